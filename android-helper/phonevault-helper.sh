# phonevault on-device helper: runs under Android's shell (mksh) with toybox tools.
# Wire format: android-helper/README.md. Pushed to /data/local/tmp by the host and
# re-pushed whenever PVH_VERSION differs from the host's copy.
PVH_VERSION=3

pvh_usage() {
	print -r -- "usage: phonevault-helper.sh [--expect VERSION] list ROOT...|heads N [LISTFILE]|hash [LISTFILE]|version" >&2
	exit 2
}

# Record: TYPE SIZE MTIME PATH, then NUL. Paths never hold NUL, so NUL ends a record.
pvh_record() {
	print -rn -- "$1 $2 $3 $4"
	print -n '\0'
}

# Fallback for find without -printf (toybox 0.8.0): stat prints one line per file in
# argument order; the names are paired here, so a name with a newline cannot shift lines.
pvh_stat() {
	typeset out i f
	set -A pvh_lines
	out=$(stat -c '%s %Y' "$@" 2>/dev/null)
	typeset IFS='
'
	set -A pvh_lines -- $out
	IFS=' '
	if [ "${#pvh_lines[*]}" -eq "$#" ]; then
		i=0
		for f; do
			pvh_record f ${pvh_lines[i]} "$f"
			i=$((i + 1))
		done
	else
		# A file vanished between find and stat: ask one by one so the pairs stay right.
		for f; do
			out=$(stat -c '%s %Y' "$f" 2>/dev/null) || continue
			pvh_record f $out "$f"
		done
	fi
}

pvh_list_tree() {
	typeset root=$1 d
	if [ -n "$pvh_printf" ]; then
		find "$root" -type f -printf 'f %s %T@ %p\0' 2>>"$pvh_err"
	else
		find "$root" -type f -exec sh "$pvh_self" --expect "$PVH_VERSION" _stat {} + 2>>"$pvh_err"
	fi
	# find skips folders it cannot open (after a message on stderr); name them explicitly.
	find "$root" -type d -print0 2>/dev/null | while IFS= read -r -d '' d; do
		if [ ! -r "$d" ] || [ ! -x "$d" ]; then
			pvh_record u 0 0 "$d"
		fi
	done
}

pvh_list_root() {
	typeset root=$1
	if [ ! -e "$root" ]; then
		return 0
	fi
	if [ ! -d "$root" ] || [ ! -r "$root" ] || [ ! -x "$root" ]; then
		pvh_record u 0 0 "$root"
		return 0
	fi
	pvh_list_tree "$root"
}

pvh_list() {
	typeset root card sub line
	pvh_err="${pvh_self%/*}/.phonevault-helper.err.$$"
	# A redirection failure would end the script, so try it in a subshell first.
	( : >"$pvh_err" ) 2>/dev/null || pvh_err=/dev/null
	# Probe once per call: toybox 0.8.0 (Android 10) refuses -printf.
	pvh_printf=
	if [ "$(find / -prune -printf x 2>/dev/null)" = x ]; then
		pvh_printf=1
	fi
	for root; do
		if [ "$root" = @sdcards ]; then
			for card in /storage/[0-9A-F][0-9A-F][0-9A-F][0-9A-F]-[0-9A-F][0-9A-F][0-9A-F][0-9A-F]; do
				[ -d "$card" ] || continue
				pvh_record s 0 0 "$card"
				for sub in DCIM Pictures Movies; do
					pvh_list_root "$card/$sub"
				done
			done
		else
			pvh_list_root "$root"
		fi
	done
	if [ "$pvh_err" != /dev/null ]; then
		while IFS= read -r line; do
			pvh_record e 0 0 "$line"
		done <"$pvh_err"
		rm -f "$pvh_err"
	fi
	pvh_record z 0 0 end
}

pvh_status() {
	if [ ! -e "$1" ]; then
		print -r -- missing
	elif [ -d "$1" ]; then
		print -r -- directory
	elif [ ! -r "$1" ]; then
		print -r -- denied
	else
		print -r -- ok
	fi
}

# Frame per path: "STATUS LENGTH\n" then LENGTH bytes (LENGTH is 0 unless STATUS is ok).
pvh_heads() {
	typeset n=$1 f st len tmp
	tmp="${pvh_self%/*}/.phonevault-helper.head.$$"
	while IFS= read -r -d '' f; do
		st=$(pvh_status "$f")
		if [ "$st" = ok ]; then
			if head -c "$n" "$f" >"$tmp" 2>/dev/null; then
				len=$(stat -c %s "$tmp")
				print -r -- "ok $len"
				cat "$tmp"
				continue
			fi
			st=error
		fi
		print -r -- "$st 0"
	done
	rm -f "$tmp"
}

# Line per path: "STATUS HEX" (HEX is - unless STATUS is ok).
pvh_hash() {
	typeset f st sum
	while IFS= read -r -d '' f; do
		st=$(pvh_status "$f")
		if [ "$st" = ok ]; then
			if sum=$(sha256sum <"$f" 2>/dev/null); then
				print -r -- "ok ${sum%% *}"
				continue
			fi
			st=error
		fi
		print -r -- "$st -"
	done
}

pvh_self=$0
if [ "$1" = --expect ]; then
	if [ "$2" != "$PVH_VERSION" ]; then
		print -r -- "phonevault-helper: version $PVH_VERSION here, $2 expected" >&2
		exit 97
	fi
	shift 2
fi
cmd=$1
[ -n "$cmd" ] || pvh_usage
shift
case $cmd in
version) print -r -- "$PVH_VERSION" ;;
list) pvh_list "$@" ;;
_stat) pvh_stat "$@" ;;
heads)
	case $1 in '' | *[!0-9]*) pvh_usage ;; esac
	if [ -n "$2" ]; then pvh_heads "$1" <"$2"; else pvh_heads "$1"; fi
	;;
hash)
	if [ -n "$1" ]; then pvh_hash <"$1"; else pvh_hash; fi
	;;
*) pvh_usage ;;
esac
