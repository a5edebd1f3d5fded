/* test_kubepods.c: Check suite for the kubelet cgroup name parsers (pods, containers, QoS). */
#include "guardlet/kubepods.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define UID   "0a1b2c3d-4e5f-4789-abcd-ef0123456789"
#define UID_  "0a1b2c3d_4e5f_4789_abcd_ef0123456789"
#define HEX64 "3e5cce5f5b71b7ca20ff88a52ea7c6665913bb8ee943cd7da3d360f391722554"
#define HEX12 "0123456789ab"

/* Exactly sized heap buffers, so that ASan and valgrind catch a parser writing past them. */
static int pod(const char *name, char *uid_out) {
    char *uid = malloc(GL_POD_UID_LEN + 1);
    ck_assert_ptr_nonnull(uid);
    memset(uid, 'X', GL_POD_UID_LEN + 1);
    int r = gl_kubepods_parse_pod_dir(name, uid);
    if (r == 0) {
        ck_assert_uint_eq(strnlen(uid, GL_POD_UID_LEN + 1), GL_POD_UID_LEN);
        if (uid_out)
            memcpy(uid_out, uid, GL_POD_UID_LEN + 1);
    }
    free(uid);
    return r;
}

static int ctr(const char *name, gl_runtime *rt, char *id_out) {
    char *id = malloc(GL_CONTAINER_ID_MAX + 1);
    ck_assert_ptr_nonnull(id);
    memset(id, 'X', GL_CONTAINER_ID_MAX + 1);
    gl_runtime r_rt = (gl_runtime)-1;
    int r = gl_kubepods_parse_container_dir(name, &r_rt, id);
    if (r == 0) {
        ck_assert_uint_le(strnlen(id, GL_CONTAINER_ID_MAX + 1), GL_CONTAINER_ID_MAX);
        if (id_out)
            memcpy(id_out, id, strlen(id) + 1);
        if (rt)
            *rt = r_rt;
    }
    free(id);
    return r;
}

static int qos(const char *name, gl_qos *q) {
    gl_qos x = (gl_qos)-1;
    int r = gl_kubepods_parse_qos_dir(name, &x);
    if (r == 0 && q)
        *q = x;
    return r;
}

START_TEST(test_names) {
    ck_assert_str_eq(gl_qos_name(GL_QOS_GUARANTEED), "guaranteed");
    ck_assert_str_eq(gl_qos_name(GL_QOS_BURSTABLE), "burstable");
    ck_assert_str_eq(gl_qos_name(GL_QOS_BESTEFFORT), "besteffort");
    ck_assert_str_eq(gl_runtime_name(GL_RUNTIME_CONTAINERD), "containerd");
    ck_assert_str_eq(gl_runtime_name(GL_RUNTIME_CRIO), "cri-o");
    ck_assert_str_eq(gl_runtime_name(GL_RUNTIME_DOCKER), "docker");
    ck_assert_str_eq(gl_runtime_name(GL_RUNTIME_PLAIN), "cgroupfs");
}
END_TEST

START_TEST(test_pod_dir_accepted) {
    char uid[GL_POD_UID_LEN + 1];

    ck_assert_int_eq(pod("kubepods-burstable-pod" UID_ ".slice", uid), 0);
    ck_assert_str_eq(uid, UID);
    memset(uid, 0, sizeof(uid));
    ck_assert_int_eq(pod("kubepods-besteffort-pod" UID_ ".slice", uid), 0);
    ck_assert_str_eq(uid, UID);
    memset(uid, 0, sizeof(uid));
    ck_assert_int_eq(pod("kubepods-pod" UID_ ".slice", uid), 0); /* Guaranteed, systemd */
    ck_assert_str_eq(uid, UID);
    memset(uid, 0, sizeof(uid));
    ck_assert_int_eq(pod("pod" UID, uid), 0); /* cgroupfs, any QoS */
    ck_assert_str_eq(uid, UID);
    /* All-digit and all-letter groups are still hex. */
    ck_assert_int_eq(pod("pod00000000-0000-0000-0000-000000000000", uid), 0);
    ck_assert_str_eq(uid, "00000000-0000-0000-0000-000000000000");
    ck_assert_int_eq(pod("kubepods-podabcdefab_cdef_abcd_efab_cdefabcdefab.slice", uid), 0);
    ck_assert_str_eq(uid, "abcdefab-cdef-abcd-efab-cdefabcdefab");
}
END_TEST

START_TEST(test_pod_dir_rejected) {
    static const char *const bad[] = {
        "",
        "pod",
        "kubepods.slice",
        "kubepods-burstable.slice",
        "kubepods-besteffort.slice",
        "burstable",
        "besteffort",
        "kubepods-burstable-podnot-a-uid.slice",
        "podnot-a-uid",
        "kubepods-pod.slice",
        "kubepods-burstable-pod.slice",
        /* wrong length */
        "pod0a1b2c3d-4e5f-4789-abcd-ef012345678",
        "pod0a1b2c3d-4e5f-4789-abcd-ef01234567890",
        "kubepods-burstable-pod0a1b2c3d_4e5f_4789_abcd_ef012345678.slice",
        "kubepods-burstable-pod0a1b2c3d_4e5f_4789_abcd_ef01234567890.slice",
        "kubepods-pod0a1b2c3d_4e5f_4789_abcd_ef0123456789a.slice",
        /* not hex, uppercase */
        "pod0a1b2c3d-4e5f-4789-abcd-ef012345678g",
        "pod0A1B2C3D-4E5F-4789-ABCD-EF0123456789",
        "kubepods-burstable-pod0a1b2c3d_4e5f_4789_abcd_ef012345678z.slice",
        "kubepods-pod0A1B2C3D_4E5F_4789_ABCD_EF0123456789.slice",
        /* separators in the wrong places or missing */
        "pod0a1b2c3d4-e5f-4789-abcd-ef0123456789",
        "pod0a1b2c3d-4e5f-4789-abcdef-0123456789",
        "pod0a1b2c3d04e5f04789-abcd-ef0123456789",
        "kubepods-pod0a1b2c3d_4e5f_4789_abcdef_0123456789.slice",
        /* suffix and prefix trouble */
        ("kubepods-burstable-pod" UID_),
        ("kubepods-burstable-pod" UID_ ".scope"),
        ("kubepods-burstable-pod" UID_ ".slicex"),
        ("kubepods-burstable-pod" UID_ ".slice/"),
        ("kubepods-burstable-pod" UID_ "x.slice"),
        ("kubepods-foo-pod" UID_ ".slice"),
        ("kubepods-guaranteed-pod" UID_ ".slice"),
        ("xkubepods-pod" UID_ ".slice"),
        ("Pod" UID),
        ("pod" UID "x"),
        ("pod" UID "/"),
        (" pod" UID),
        ("pod-" UID),
        ("pod_" UID),
        UID,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = pod(bad[i], NULL);
        ck_assert_msg(r == -EINVAL, "\"%s\" gave %d, expected -EINVAL", bad[i], r);
    }
}
END_TEST

START_TEST(test_container_dir_accepted) {
    char id[GL_CONTAINER_ID_MAX + 1];
    gl_runtime rt;

    ck_assert_int_eq(ctr("cri-containerd-" HEX64 ".scope", &rt, id), 0);
    ck_assert_int_eq(rt, GL_RUNTIME_CONTAINERD);
    ck_assert_str_eq(id, HEX64);
    ck_assert_int_eq(ctr("crio-" HEX64 ".scope", &rt, id), 0);
    ck_assert_int_eq(rt, GL_RUNTIME_CRIO);
    ck_assert_str_eq(id, HEX64);
    ck_assert_int_eq(ctr("docker-" HEX64 ".scope", &rt, id), 0);
    ck_assert_int_eq(rt, GL_RUNTIME_DOCKER);
    ck_assert_str_eq(id, HEX64);
    ck_assert_int_eq(ctr(HEX64, &rt, id), 0);
    ck_assert_int_eq(rt, GL_RUNTIME_PLAIN);
    ck_assert_str_eq(id, HEX64);
    /* The shortest id allowed (12 hex digits, as docker abbreviates). */
    ck_assert_int_eq(ctr("cri-containerd-" HEX12 ".scope", &rt, id), 0);
    ck_assert_int_eq(rt, GL_RUNTIME_CONTAINERD);
    ck_assert_str_eq(id, HEX12);
    ck_assert_int_eq(ctr(HEX12, &rt, id), 0);
    ck_assert_int_eq(rt, GL_RUNTIME_PLAIN);
    ck_assert_str_eq(id, HEX12);
}
END_TEST

START_TEST(test_container_id_max) {
    char name[GL_CONTAINER_ID_MAX + 64], id[GL_CONTAINER_ID_MAX + 2];
    gl_runtime rt;

    memset(id, 'a', GL_CONTAINER_ID_MAX);
    id[GL_CONTAINER_ID_MAX] = '\0';
    snprintf(name, sizeof(name), "crio-%s.scope", id);
    char got[GL_CONTAINER_ID_MAX + 1];
    ck_assert_int_eq(ctr(name, &rt, got), 0);
    ck_assert_int_eq(rt, GL_RUNTIME_CRIO);
    ck_assert_str_eq(got, id);
    ck_assert_int_eq(ctr(id, &rt, got), 0);
    ck_assert_str_eq(got, id);

    /* One more than fits the caller's buffer. */
    memset(id, 'a', GL_CONTAINER_ID_MAX + 1);
    id[GL_CONTAINER_ID_MAX + 1] = '\0';
    snprintf(name, sizeof(name), "crio-%s.scope", id);
    ck_assert_int_eq(ctr(name, NULL, NULL), -EINVAL);
    ck_assert_int_eq(ctr(id, NULL, NULL), -EINVAL);
}
END_TEST

START_TEST(test_container_conmon) {
    /* CRI-O's monitor process sits beside each container: known, and not a container. */
    ck_assert_int_eq(ctr("crio-conmon-" HEX64 ".scope", NULL, NULL), -ENOENT);
}
END_TEST

START_TEST(test_container_dir_rejected) {
    static const char *const bad[] = {
        "",
        ".scope",
        "init.scope",
        "cgroup.procs",
        "memory.stat",
        "cri-containerd-.scope",
        "crio-.scope",
        "docker-.scope",
        /* too short: 11 hex digits */
        "cri-containerd-0123456789a.scope",
        "crio-0123456789a.scope",
        "docker-0123456789a.scope",
        "0123456789a",
        /* missing or wrong suffix */
        ("cri-containerd-" HEX64),
        ("crio-" HEX64),
        ("docker-" HEX64),
        ("cri-containerd-" HEX64 ".slice"),
        ("cri-containerd-" HEX64 ".scopex"),
        ("cri-containerd-" HEX64 ".scope/"),
        (HEX64 ".scope"),
        /* unknown or misspelt runtime prefix */
        ("containerd-" HEX64 ".scope"),
        ("cri-o-" HEX64 ".scope"),
        ("podman-" HEX64 ".scope"),
        ("Docker-" HEX64 ".scope"),
        ("-" HEX64 ".scope"),
        /* not hex, uppercase */
        "cri-containerd-3e5cce5f5b71b7ca20ff88a52ea7c6665913bb8ee943cd7da3d360f39172255g.scope",
        "cri-containerd-3E5CCE5F5B71B7CA20FF88A52EA7C6665913BB8EE943CD7DA3D360F391722554.scope",
        "3E5CCE5F5B71B7CA20FF88A52EA7C6665913BB8EE943CD7DA3D360F391722554",
        "3e5cce5f5b71b7ca20ff88a52ea7c6665913bb8ee943cd7da3d360f39172zzzz",
        "3e5cce5f-5b71b7ca20ff88a52ea7c6665913bb8ee943cd7da3d360f391722554",
        (" " HEX64),
        (HEX64 " "),
        /* pod and QoS directories are not containers */
        ("kubepods-pod" UID_ ".slice"),
        ("pod" UID),
        "kubepods-burstable.slice",
        "burstable",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = ctr(bad[i], NULL, NULL);
        ck_assert_msg(r == -EINVAL, "\"%s\" gave %d, expected -EINVAL", bad[i], r);
    }
}
END_TEST

START_TEST(test_qos_dir) {
    gl_qos q = GL_QOS_GUARANTEED;

    ck_assert_int_eq(qos("kubepods-burstable.slice", &q), 0);
    ck_assert_int_eq(q, GL_QOS_BURSTABLE);
    ck_assert_int_eq(qos("kubepods-besteffort.slice", &q), 0);
    ck_assert_int_eq(q, GL_QOS_BESTEFFORT);
    q = GL_QOS_GUARANTEED;
    ck_assert_int_eq(qos("burstable", &q), 0);
    ck_assert_int_eq(q, GL_QOS_BURSTABLE);
    ck_assert_int_eq(qos("besteffort", &q), 0);
    ck_assert_int_eq(q, GL_QOS_BESTEFFORT);

    static const char *const bad[] = {
        "",
        "kubepods.slice",
        "kubepods",
        "kubepods-guaranteed.slice",
        "guaranteed",
        "Burstable",
        "BESTEFFORT",
        "burstable.slice",
        "besteffort.slice",
        "kubepods-burstable",
        "kubepods-burstable.slice/",
        "kubepods-burstable.slicex",
        "kubepods-burstable.scope",
        "kubepods-besteffortx.slice",
        "burstablex",
        "xburstable",
        "besteffor",
        ("kubepods-burstable-pod" UID_ ".slice"),
        ("pod" UID),
        "init.scope",
        "system.slice",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = qos(bad[i], NULL);
        ck_assert_msg(r == -EINVAL, "\"%s\" gave %d, expected -EINVAL", bad[i], r);
    }
}
END_TEST

static Suite *kubepods_suite(void) {
    Suite *s = suite_create("kubepods");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_pod_dir_accepted);
    tcase_add_test(tc, test_pod_dir_rejected);
    tcase_add_test(tc, test_container_dir_accepted);
    tcase_add_test(tc, test_container_id_max);
    tcase_add_test(tc, test_container_conmon);
    tcase_add_test(tc, test_container_dir_rejected);
    tcase_add_test(tc, test_qos_dir);
    suite_add_tcase(s, tc);
    return s;
}

GL_TEST_MAIN(kubepods_suite)
