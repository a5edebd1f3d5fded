/* message_ids.h: journald MESSAGE_IDs, one per kind of entry, explained by the journal catalog. */
#ifndef GUARDLET_MESSAGE_IDS_H
#define GUARDLET_MESSAGE_IDS_H

/* Never change an ID once released: operators filter on them (journalctl MESSAGE_ID=...). */
#define GL_MID_STARTED       "304c1bd46d5a4a31a4831ab9c51728e7"
#define GL_MID_STOPPED       "e5ba3a31708348c48e74066722e51887"
#define GL_MID_RELOADED      "05e53905b3794ddf96d9ffeef81832aa"
#define GL_MID_RELOAD_FAILED "1df0d917b4684e56a7155e3536db1a3a"
#define GL_MID_PRESSURE      "2c442261dc6140309a11a11997bba2b7"
#define GL_MID_SENSE_FAILED  "59417c4b60004ebfb348bff717c796a9"
/* API mode: the pod watch stopped working / works again. */
#define GL_MID_API_LOST "03ba5b87ab494e04805fff3b9dae9768"
#define GL_MID_API_BACK "8020aa26998d41dc94ba6187f7e5b074"

/* One per action kind (the contract's MESSAGE_ID per action), and one for decisions that were
 * reported but not carried out (protected, rate-limited, dry-run, recovered, ...). */
#define GL_MID_THROTTLE_MEMORY "32917187827d4272b0150fe46c2c1262"
#define GL_MID_THROTTLE_CPU    "73260af5a47d41fa98e164572f4a0648"
#define GL_MID_FREEZE          "c9140276145b407ba936e050bc87cd94"
#define GL_MID_EVICT           "f91260ed962f4926902df5048673a73d"
#define GL_MID_KILL            "02200edf1a044bc89eac00f49d061b78"
#define GL_MID_RESTORE         "854d62a5de80483bbef935f6362adaff"
#define GL_MID_NOT_ACTED       "9744926563524ad4a0dc3d2b8aaa7163"
#define GL_MID_ACTION_FAILED   "589e9a50a3fe4c1eac06fe63625aee7d"

#endif
