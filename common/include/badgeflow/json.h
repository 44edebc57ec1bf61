/* SPDX-License-Identifier: Apache-2.0 */
/* Typed access to JSON (jansson) whose errors name the field path. */
#ifndef BADGEFLOW_JSON_H
#define BADGEFLOW_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "badgeflow/err.h"

/*
 * Getters read member `name` of object obj. `path` is the object's own path for messages
 * ("" for the top, "evidence[2]"); errors read "<path>.<name>: is required",
 * "<path>.<name>: must be a string of 1..128 characters". Strings are borrowed from obj.
 * *_opt variants leave *out untouched and return 0 when the member is absent. A null
 * member is refused like any other wrong type. Lengths count characters (UTF-8 code points).
 */
int bf_json_str(const json_t *obj, const char *path, const char *name, size_t min_len,
                size_t max_len, const char **out, struct bf_err *err) BF_MUST_CHECK;
int bf_json_str_opt(const json_t *obj, const char *path, const char *name, size_t min_len,
                    size_t max_len, const char **out, struct bf_err *err) BF_MUST_CHECK;
int bf_json_int(const json_t *obj, const char *path, const char *name, long long min, long long max,
                long long *out, struct bf_err *err) BF_MUST_CHECK;
int bf_json_int_opt(const json_t *obj, const char *path, const char *name, long long min,
                    long long max, long long *out, struct bf_err *err) BF_MUST_CHECK;
int bf_json_bool(const json_t *obj, const char *path, const char *name, bool *out,
                 struct bf_err *err) BF_MUST_CHECK;
/* An id: 1..128 characters of [A-Za-z0-9._:-]. */
int bf_json_id(const json_t *obj, const char *path, const char *name, const char **out,
               struct bf_err *err) BF_MUST_CHECK;
int bf_json_id_opt(const json_t *obj, const char *path, const char *name, const char **out,
                   struct bf_err *err) BF_MUST_CHECK;
/* RFC 3339 timestamp into milliseconds. */
int bf_json_time(const json_t *obj, const char *path, const char *name, int64_t *out,
                 struct bf_err *err) BF_MUST_CHECK;
/* One of the '|'-separated choices ("earned|not_yet"); *out borrowed from obj. */
int bf_json_enum(const json_t *obj, const char *path, const char *name, const char *choices,
                 const char **out, struct bf_err *err) BF_MUST_CHECK;
/* An array of min..max items; *out borrowed. */
int bf_json_array(const json_t *obj, const char *path, const char *name, size_t min, size_t max,
                  json_t **out, struct bf_err *err) BF_MUST_CHECK;
/* A nested object; *out borrowed. */
int bf_json_object(const json_t *obj, const char *path, const char *name, json_t **out,
                   struct bf_err *err) BF_MUST_CHECK;

/* Refuse members of obj not in the NULL-terminated list allowed (schemas say additionalProperties
 * false). */
int bf_json_only(const json_t *obj, const char *path, const char *const *allowed,
                 struct bf_err *err) BF_MUST_CHECK;

/* True if s is a valid id (see bf_json_id). */
bool bf_json_id_valid(const char *s);

/*
 * Parse len bytes (not NUL-terminated) as a JSON object. NULL on failure with err:
 * "value: invalid JSON at line 1 column 7: ..." or "value: must be a JSON object".
 * Caller frees with json_decref(). Duplicate keys are refused.
 */
json_t *bf_json_parse_object(const char *buf, size_t len, struct bf_err *err);

/* Compact serialisation with sorted keys; caller frees with free(). NULL on ENOMEM. */
char *bf_json_dump(const json_t *j);

#endif
