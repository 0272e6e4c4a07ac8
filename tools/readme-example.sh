#!/bin/sh
# readme-example.sh README.md: print the README's library example (the
# first ```c block), as a C file.  make check-docs compiles and runs it; the
# install ships it as examples/uffd-example.c.
set -eu
awk '
	/^```c$/ && !done { on = 1; next }
	on && /^```/ { on = 0; done = 1; next }
	on { print }
	END { if (!done) { print "readme-example: no ```c block" > "/dev/stderr"; exit 1 } }
' "$1"
