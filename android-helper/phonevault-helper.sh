# phonevault on-device helper: runs under Android's shell (mksh) with toybox tools.
# Wire format: android-helper/README.md. Pushed to /data/local/tmp by the host and
# re-pushed whenever PVH_VERSION differs from the host's copy.
PVH_VERSION=6

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

# An l record for each symlink given.
pvh_link() {
	typeset f
	for f; do
		pvh_record l 0 0 "$f"
	done
}

# Lists every file under the given folders with one find (a process per folder adds up on
# a phone), then names the folders find could not open.
pvh_list_tree() {
	typeset d
	# Symlinks are named (l records), never followed: find does not follow them by default.
	if [ -n "$pvh_printf" ]; then
		find "$@" \( -type f -printf 'f %s %T@ %p\0' \) -o \( -type l -printf 'l 0 0 %p\0' \) \
			2>>"$pvh_err"
	else
		find "$@" \( -type f -exec sh "$pvh_self" --expect "$PVH_VERSION" _stat {} + \) \
			-o \( -type l -exec sh "$pvh_self" --expect "$PVH_VERSION" _link {} + \) 2>>"$pvh_err"
	fi
	# find skips a folder it cannot open after a message on stderr: only then is the second
	# walk (half the cost of the first) needed. Without an error file, always walk.
	if [ "$pvh_err" != /dev/null ] && [ ! -s "$pvh_err" ]; then
		return 0
	fi
	find "$@" -type d -print0 2>/dev/null | while IFS= read -r -d '' d; do
		if [ ! -r "$d" ] || [ ! -x "$d" ]; then
			pvh_record u 0 0 "$d"
		fi
	done
}

# Whether a root is a folder to list: a missing one is skipped quietly, one that cannot be
# read is recorded as unreadable.
pvh_root_ok() {
	[ -e "$1" ] || return 1
	if [ ! -d "$1" ] || [ ! -r "$1" ] || [ ! -x "$1" ]; then
		pvh_record u 0 0 "$1"
		return 1
	fi
	return 0
}

pvh_list() {
	typeset root card sub line n=0
	pvh_err="${pvh_self%/*}/.phonevault-helper.err.$$"
	# A redirection failure would end the script, so try it in a subshell first.
	( : >"$pvh_err" ) 2>/dev/null || pvh_err=/dev/null
	# Probe once per call: toybox 0.8.0 (Android 10) refuses -printf.
	pvh_printf=
	if [ "$(find / -prune -printf x 2>/dev/null)" = x ]; then
		pvh_printf=1
	fi
	set -A pvh_roots
	for root; do
		if [ "$root" = @sdcards ]; then
			for card in /storage/[0-9A-F][0-9A-F][0-9A-F][0-9A-F]-[0-9A-F][0-9A-F][0-9A-F][0-9A-F]; do
				[ -d "$card" ] || continue
				pvh_record s 0 0 "$card"
				for sub in DCIM Pictures Movies; do
					if pvh_root_ok "$card/$sub"; then
						pvh_roots[n]="$card/$sub"
						n=$((n + 1))
					fi
				done
			done
		elif pvh_root_ok "$root"; then
			pvh_roots[n]=$root
			n=$((n + 1))
		fi
	done
	[ "$n" -gt 0 ] && pvh_list_tree "${pvh_roots[@]}"
	if [ "$pvh_err" != /dev/null ]; then
		while IFS= read -r line; do
			pvh_record e 0 0 "$line"
		done <"$pvh_err"
		rm -f "$pvh_err"
	fi
	pvh_record z 0 0 end
}

# Reads NUL-separated paths from stdin into pvh_paths, their statuses into pvh_st and the
# readable files into pvh_ok, with shell builtins only: a process per file costs about 10 ms
# on a phone, so the work on the files themselves is done by one process for all of them.
pvh_sort() {
	typeset f i=0 j=0
	set -A pvh_paths
	set -A pvh_st
	set -A pvh_ok
	while IFS= read -r -d '' f; do
		pvh_paths[i]=$f
		if [ ! -e "$f" ]; then
			pvh_st[i]=missing
		elif [ -d "$f" ]; then
			pvh_st[i]=directory
		elif [ ! -r "$f" ]; then
			pvh_st[i]=denied
		else
			pvh_st[i]=ok
			pvh_ok[j]=$f
			j=$((j + 1))
		fi
		i=$((i + 1))
	done
	pvh_count=$i
	pvh_nok=$j
}

# Sizes of the readable files, one per line, from one stat.
pvh_sizes() {
	[ "$pvh_nok" -gt 0 ] || return 0
	stat -c %s -- "${pvh_ok[@]}" 2>/dev/null
}

# First a line per path, "STATUS LENGTH" (LENGTH is min(size, N) when STATUS is ok, else 0);
# then the first bytes of every ok file in order, LENGTH each, from one head; then
# "end ok", or "end changed" when a file changed size meanwhile (the bytes cannot be split).
# Exit 3 when a file went away between the checks (ask again).
pvh_heads() {
	typeset n=$1 before after i=0 j=0 len
	pvh_sort
	before=$(pvh_sizes)
	typeset IFS='
'
	set -A pvh_size -- $before
	IFS=' '
	[ "${#pvh_size[*]}" -eq "$pvh_nok" ] || exit 3
	while [ "$i" -lt "$pvh_count" ]; do
		if [ "${pvh_st[i]}" = ok ]; then
			len=${pvh_size[j]}
			[ "$len" -gt "$n" ] && len=$n
			print -r -- "ok $len"
			j=$((j + 1))
		else
			print -r -- "${pvh_st[i]} 0"
		fi
		i=$((i + 1))
	done
	[ "$pvh_nok" -gt 0 ] && head -q -c "$n" -- "${pvh_ok[@]}" 2>/dev/null
	after=$(pvh_sizes)
	if [ "$after" = "$before" ]; then
		print -r -- "end ok"
	else
		print -r -- "end changed"
	fi
}

# Line per path: "STATUS HEX" (HEX is - unless STATUS is ok), from one sha256sum for all
# readable files; one by one only when a file changed between the checks.
pvh_hash() {
	typeset out i=0 j=0 f sum
	pvh_sort
	if [ "$pvh_nok" -gt 0 ]; then
		out=$(sha256sum -b -- "${pvh_ok[@]}" 2>/dev/null)
	fi
	typeset IFS='
'
	set -A pvh_sum -- $out
	IFS=' '
	if [ "${#pvh_sum[*]}" -ne "$pvh_nok" ]; then
		set -A pvh_sum
		while [ "$i" -lt "$pvh_count" ]; do
			if [ "${pvh_st[i]}" = ok ]; then
				f=${pvh_paths[i]}
				if sum=$(sha256sum <"$f" 2>/dev/null); then
					pvh_sum[j]=${sum%% *}
				else
					pvh_st[i]=error
				fi
				j=$((j + 1))
			fi
			i=$((i + 1))
		done
		i=0
		j=0
	fi
	while [ "$i" -lt "$pvh_count" ]; do
		if [ "${pvh_st[i]}" = ok ]; then
			print -r -- "ok ${pvh_sum[j]}"
			j=$((j + 1))
		elif [ "${pvh_st[i]}" = error ]; then
			print -r -- "error -"
			j=$((j + 1))
		else
			print -r -- "${pvh_st[i]} -"
		fi
		i=$((i + 1))
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
_link) pvh_link "$@" ;;
heads)
	case $1 in '' | *[!0-9]*) pvh_usage ;; esac
	if [ -n "$2" ]; then pvh_heads "$1" <"$2"; else pvh_heads "$1"; fi
	;;
hash)
	if [ -n "$1" ]; then pvh_hash <"$1"; else pvh_hash; fi
	;;
*) pvh_usage ;;
esac
