/* SPDX-License-Identifier: MIT */
#include "commands.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>

json_object *control_error(const char *fmt, ...)
{
	json_object *o = json_object_new_object();
	char msg[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(o, "error", json_object_new_string(msg));
	return o;
}
