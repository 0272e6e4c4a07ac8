#!/bin/sh
# check-man.sh BUILD: the man pages in docs/man are clean for mandoc -Tlint
# (warnings and worse) and for man's own groff warnings (what lintian runs),
# every page they point to with Xr that belongs to uffdd exists, and each
# program's options and commands in `PROGRAM --help` are the ones its page
# lists (OPTIONS: .It Fl lines; COMMANDS: .It Cm lines), both ways.
#
# Prints one line per problem, saying which option is missing where, then
# "N passed, N failed" like the other tests.
set -u
build=$1
man=docs/man
pass=0 fail=0

ok() { pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

for d in mandoc; do
	command -v $d >/dev/null 2>&1 || { echo "check-man: $d is missing (make deps)"; exit 1; }
done

# 1. Lint.
for p in "$man"/*.[1-8]; do
	out=$(mandoc -Tlint -Wwarning "$p" 2>&1)
	if [ -n "$out" ]; then
		bad "$p: mandoc -Tlint: $out"
	else
		ok
	fi
	if command -v man >/dev/null 2>&1; then
		out=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
			man --warnings -E UTF-8 -l -Tutf8 -Z "$p" 2>&1 >/dev/null)
		[ -z "$out" ] && ok || bad "$p: man --warnings: $out"
	fi
done

# 2. Our own cross references resolve to a page we ship, or to a name in a
# page's NAME section (install makes a .so link for it); every function the
# library exports is such a name.
names=$(for p in "$man"/*.[1-8]; do
	s=${p##*.}
	awk -v s="$s" '/^\.Sh / { n = ($2 == "NAME") } n && $1 == ".Nm" { print $2 "." s }' "$p"
done | sort -u)
for p in "$man"/*.[1-8]; do
	awk '$1 == ".Xr" { print $2 "." $3 }' "$p" | sed 's/[,.]*$//' | sort -u |
	while read -r ref; do
		case $ref in uffd* | libuffd*) ;; *) continue ;; esac
		printf '%s\n' "$names" | grep -qxF "$ref" ||
			echo "$p: .Xr ${ref%.*} ${ref##*.}: no such page or name in $man"
	done
done >"$build/check-man.out" 2>&1
for sym in $(awk '/global:/ { g = 1; next } /local:|}/ { g = 0 } g { gsub(/;/, ""); print $1 }' \
	client/libuffdclient.map); do
	printf '%s\n' "$names" | grep -qxF "$sym.3" ||
		echo "client/libuffdclient.map: $sym has no man page (add it to a NAME section in $man/*.3)"
done >>"$build/check-man.out"
if [ -s "$build/check-man.out" ]; then
	while read -r l; do bad "$l"; done <"$build/check-man.out"
else
	ok
fi
rm -f "$build/check-man.out"

# 3. The version macros libuffdclient(3) shows are the header's.
for m in "" _MAJOR _MINOR _PATCH; do
	h=$(sed -n "s/^#define UFFD_CLIENT_VERSION$m[[:space:]][[:space:]]*\(.*\)/\1/p" client/uffd/client.h)
	p=$(sed -n "s/^\.Fd #define UFFD_CLIENT_VERSION$m \(.*\)/\1/p" "$man/libuffdclient.3" | sed 's/\\(dq/"/g')
	[ -n "$h" ] && [ "$h" = "$p" ] && ok ||
		bad "UFFD_CLIENT_VERSION$m is $h in client/uffd/client.h, $p in $man/libuffdclient.3"
done

# 4. Every key uffdd --dump-config prints (with every key set) is in
# uffdd.json(5), as an Ic macro.
if [ -x "$build/uffdd" ]; then
	missing=$("$build/uffdd" --dump-config --config tests/ctl/all-keys.json |
		sed -n 's/^ *"\([a-z_]*\)":.*/\1/p' | sort -u | while read -r k; do
		awk -v k="$k" '
			# ".Ic a , b Pq x": a and b are Ic; a macro name ends it.
			/^\./ { ic = 0
				for (i = 1; i <= NF; i++) {
					t = $i; sub(/^\./, "", t)
					if (t == "Ic") { ic = 1; continue }
					if (t ~ /^[A-Z][a-z][a-z]?$/) { ic = 0; continue }
					if (ic && t != ",") { sub(/,$/, "", t); if (t == k) f = 1 }
				} }
			END { exit !f }' "$man/uffdd.json.5" || echo "$k"
	done)
	if [ -z "$missing" ]; then ok; else
		for k in $missing; do
			bad "uffdd.json: key $k (uffdd --dump-config) is not in $man/uffdd.json.5 (an \`Ic $k\` under .Sh KEYS)"
		done
	fi
fi

# Options at the start of a --help line: "  -c, --config FILE", "      --x".
help_options() {
	sed -n 's/^ \{1,8\}\(-[A-Za-z0-9]\)\{0,1\}\(, \)\{0,1\}\(--[a-z][a-z0-9-]*\)\{0,1\}.*/\1 \3/p' |
		tr ' ' '\n' | grep -E '^-' | sort -u
}

# .It Fl lines in the page's OPTIONS section: "Fl c , Fl \-config Ar file".
man_options() {
	awk '
		/^\.Sh / { in_opts = ($2 == "OPTIONS") }
		in_opts && /^\.It / {
			for (i = 2; i < NF; i++)
				if ($i == "Fl") {
					o = $(i + 1); gsub(/\\-/, "-", o); gsub(/[,|]$/, "", o)
					print "-" o
				}
		}' "$1" | sort -u
}

# "Commands:" lines of --help: two spaces, then a word.
help_commands() {
	awk '
		/^Commands:/ { on = 1; next }
		on && /^[^ ]/ { on = 0 }
		on && /^  [a-z]/ { print $1 }' | sort -u
}

man_commands() {
	awk '
		/^\.Sh / { on = ($2 == "COMMANDS") }
		on && /^\.It Cm / { print $3 }' "$1" | sort -u
}

# compare PROG PAGE WHAT HELPLIST MANLIST
compare() {
	prog=$1 page=$2 what=$3
	missing_man=$(printf '%s\n' "$4" | grep -v '^$' | while read -r o; do
		printf '%s\n' "$5" | grep -qxF -- "$o" || echo "$o"
	done)
	missing_help=$(printf '%s\n' "$5" | grep -v '^$' | while read -r o; do
		printf '%s\n' "$4" | grep -qxF -- "$o" || echo "$o"
	done)
	[ -n "$4" ] || { bad "$prog: no ${what}s found in \`$prog --help\`"; return; }
	for o in $missing_man; do
		if [ "$what" = option ]; then
			bad "$prog: option $o is in \`$prog --help\` but not in $page (add an \`.It Fl\` line under .Sh OPTIONS)"
		else
			bad "$prog: command $o is in \`$prog --help\` but not in $page (add an \`.It Cm $o\` line under .Sh COMMANDS)"
		fi
	done
	for o in $missing_help; do
		bad "$prog: $what $o is in $page but not in \`$prog --help\`"
	done
	[ -z "$missing_man$missing_help" ] && ok
}

for pair in uffdd:uffdd.8 uffdctl:uffdctl.8 uffd-run:uffd-run.1 uffd-touch:uffd-touch.1; do
	prog=${pair%%:*} page=$man/${pair#*:}
	if [ ! -x "$build/$prog" ]; then
		bad "$prog: $build/$prog not built"
		continue
	fi
	[ -f "$page" ] || { bad "$prog: no man page $page"; continue; }
	help=$("$build/$prog" --help 2>&1)
	compare "$prog" "$page" option "$(printf '%s\n' "$help" | help_options)" "$(man_options "$page")"
	if printf '%s\n' "$help" | grep -q '^Commands:'; then
		compare "$prog" "$page" command "$(printf '%s\n' "$help" | help_commands)" "$(man_commands "$page")"
	fi
done

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
