/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control protocol: frames, and the JSON requests and replies in them,
 * encoded and validated; both ends use it.
 */
#include <sys/un.h>
#include "ctl-proto.h"

int zt_ctl_frame_encode(const json_t *obj, size_t max, char **ret_buf, size_t *ret_len)
{
	size_t n = json_dumpb(obj, NULL, 0, JSON_COMPACT);
	_cleanup_free_ char *buf = NULL;

	if (n == 0)
		return -EINVAL;
	if (n > max || n > UINT32_MAX)
		return -EMSGSIZE;
	buf = malloc(ZT_CTL_FRAME_HDR + n);
	if (!buf)
		return -ENOMEM;
	if (json_dumpb(obj, buf + ZT_CTL_FRAME_HDR, n, JSON_COMPACT) != n)
		return -EIO;
	buf[0] = (char)(n >> 24);
	buf[1] = (char)(n >> 16);
	buf[2] = (char)(n >> 8);
	buf[3] = (char)n;
	*ret_len = ZT_CTL_FRAME_HDR + n;
	*ret_buf = TAKE_PTR(buf);
	return 0;
}

uint32_t zt_ctl_frame_len(const uint8_t hdr[ZT_CTL_FRAME_HDR])
{
	return (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
}

json_t *zt_ctl_request_new(const char *command, json_t *args)
{
	_cleanup_json_ json_t *req = json_object();

	if (!req)
		return NULL;
	if (json_object_set_new(req, "version", json_integer(ZT_CTL_VERSION)) < 0 ||
	    json_object_set_new(req, "command", json_string(command)) < 0 ||
	    (args && json_object_set(req, "args", args) < 0))
		return NULL;
	return TAKE_PTR(req);
}

static int json_parse_object(const void *buf, size_t len, const char *what, json_t **ret,
			     struct zt_diags *d)
{
	json_error_t err;
	json_t *root;

	/* jansson caps nesting (JSON_PARSER_MAX_DEPTH) and rejects NUL and bad UTF-8. */
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
	if (!root)
		return zt_diag_error(d, NULL, 0, 0, "malformed %s: %s (at byte %d)", what,
				     err.text, err.position);
	if (!json_is_object(root)) {
		json_decref(root);
		return zt_diag_error(d, NULL, 0, 0, "malformed %s: not a JSON object", what);
	}
	*ret = root;
	return 0;
}

/* Read "version" as an integer >= 1; 0 when absent or mistyped. */
static json_int_t json_version(const json_t *root)
{
	const json_t *v = json_object_get(root, "version");

	return json_is_integer(v) && json_integer_value(v) > 0 ? json_integer_value(v) : 0;
}

int zt_ctl_request_decode(const void *buf, size_t len, json_t **ret_root,
			  struct zt_ctl_request *ret, struct zt_diags *d)
{
	_cleanup_json_ json_t *root = NULL;
	const char *key;
	json_t *val, *args = NULL, *cmd = NULL;
	json_int_t version;
	int r;

	r = json_parse_object(buf, len, "request", &root, d);
	if (r < 0)
		return r;
	json_object_foreach(root, key, val) {
		if (streq(key, "version")) {
			if (!json_is_integer(val) || json_integer_value(val) < 1)
				return zt_diag_error(d, NULL, 0, 0,
						     "request: 'version' must be a positive integer");
		} else if (streq(key, "command")) {
			if (!json_is_string(val) || json_string_length(val) == 0)
				return zt_diag_error(d, NULL, 0, 0,
						     "request: 'command' must be a non-empty string");
			cmd = val;
		} else if (streq(key, "args")) {
			if (!json_is_object(val))
				return zt_diag_error(d, NULL, 0, 0,
						     "request: 'args' must be an object");
			args = val;
		} else {
			return zt_diag_error(d, NULL, 0, 0,
					     "request: unknown key '%.64s' (expected version, command, args)",
					     key);
		}
	}
	version = json_version(root);
	if (!version)
		return zt_diag_error(d, NULL, 0, 0, "request: 'version' is missing");
	if (version > ZT_CTL_VERSION) {
		zt_diag_error(d, NULL, 0, 0,
			      "request: protocol version %lld is not supported (ztsegd speaks %d)",
			      (long long)version, ZT_CTL_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (!cmd)
		return zt_diag_error(d, NULL, 0, 0, "request: 'command' is missing");
	if (!args) {
		args = json_object();
		if (!args || json_object_set_new(root, "args", args) < 0)
			return -ENOMEM;
	}
	*ret = (struct zt_ctl_request){
		.version = (unsigned)version,
		.command = json_string_value(cmd),
		.args = args,
	};
	*ret_root = TAKE_PTR(root);
	return 0;
}

int zt_ctl_reply_decode(const void *buf, size_t len, json_t **ret_result, struct zt_diags *d)
{
	_cleanup_json_ json_t *root = NULL;
	json_t *ok, *result, *errors, *e;
	size_t i;
	int r;

	r = json_parse_object(buf, len, "reply from ztsegd", &root, d);
	if (r < 0)
		return -EBADMSG;
	ok = json_object_get(root, "ok");
	if (!json_version(root) || !json_is_boolean(ok)) {
		zt_diag_error(d, NULL, 0, 0, "malformed reply from ztsegd: no 'version' or 'ok'");
		return -EBADMSG;
	}
	if (json_is_true(ok)) {
		result = json_object_get(root, "result");
		if (!json_is_object(result)) {
			zt_diag_error(d, NULL, 0, 0,
				      "malformed reply from ztsegd: 'result' is not an object");
			return -EBADMSG;
		}
		*ret_result = json_incref(result);
		return 0;
	}
	errors = json_object_get(root, "errors");
	if (!json_is_array(errors)) {
		zt_diag_error(d, NULL, 0, 0, "malformed reply from ztsegd: 'errors' is not an array");
		return -EBADMSG;
	}
	json_array_foreach(errors, i, e) {
		r = zt_diag_error(d, NULL, 0, 0, "%s",
				  json_is_string(e) ? json_string_value(e) : "(malformed error)");
		if (r == -ENOMEM)
			return r;
	}
	if (json_array_size(errors) == 0 &&
	    zt_diag_error(d, NULL, 0, 0, "ztsegd refused the request without saying why") == -ENOMEM)
		return -ENOMEM;
	return -EREMOTEIO;
}

json_t *zt_ctl_reply_ok_new(json_t *result)
{
	_cleanup_json_ json_t *r = result ? result : json_object();
	json_t *rep;

	if (!r || !json_is_object(r))
		return NULL;
	rep = json_pack("{s:i, s:b, s:O}", "version", ZT_CTL_VERSION, "ok", 1, "result", r);
	return rep;
}

json_t *zt_ctl_reply_error_new(const char *const *msgs, size_t n)
{
	_cleanup_json_ json_t *errs = json_array();

	if (!errs)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(errs, json_string(msgs[i])) < 0)
			return NULL;
	return json_pack("{s:i, s:b, s:O}", "version", ZT_CTL_VERSION, "ok", 0, "errors", errs);
}

int zt_ctl_sockaddr_set(struct sockaddr_un *sa, const char *path, socklen_t *ret_len)
{
	size_t n = strlen(path);

	if (n == 0)
		return -EINVAL;
	if (n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	*sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
	memcpy(sa->sun_path, path, n + 1);
	*ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return 0;
}

