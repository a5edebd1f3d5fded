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

#endif
