# bash completion for uffdctl(8)                              -*- shell-script -*-
# SPDX-License-Identifier: MIT
#
# Commands and options; region ids and names, and client pids, from the
# running daemon (as the user completing may read them); policy names.
# Plain bash: works with or without the bash-completion package.

# The daemon's status, pretty JSON one key a line, or nothing.
_uffdctl_status()
{
	uffdctl ${_uffdctl_sock:+-C "$_uffdctl_sock"} --pretty "$1" 2>/dev/null
}

_uffdctl()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local commands="status clients regions top metrics publish policy disconnect check-kernel"
	local opts="-C --control-socket -j --json -p --pretty -h --help -V --version"
	local policies="continue around: populate: record: prefetch: gate gate: deny eager"
	local i cmd= nargs=0 _uffdctl_sock=

	COMPREPLY=()
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-C | --control-socket)
			_uffdctl_sock=${COMP_WORDS[i + 1]}
			((i++))
			;;
		-*) ;;
		*)
			if [[ -z $cmd ]]; then cmd=${COMP_WORDS[i]}; else ((nargs++)); fi
			;;
		esac
	done

	case $prev in
	-C | --control-socket | -o | --output)
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	-d | --delay | -n | --iterations)
		return
		;;
	esac

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		fi
		return
	fi

	case $cmd in
	publish | policy)
		if ((nargs == 0)); then
			COMPREPLY=($(compgen -W "$(_uffdctl_status regions |
				sed -n 's/^ *"\(id\|name\)": "\([^"]*\)".*/\2/p')" -- "$cur"))
		elif [[ $cmd == policy ]] && ((nargs == 1)); then
			COMPREPLY=($(compgen -W "$policies" -- "$cur"))
			[[ ${COMPREPLY[0]-} == *: ]] && compopt -o nospace 2>/dev/null
		fi
		;;
	disconnect)
		((nargs == 0)) && COMPREPLY=($(compgen -W "$(_uffdctl_status clients |
			sed -n 's/^ *"\(pid\|session\)": "\{0,1\}\([0-9a-f]*\)"\{0,1\},*$/\2/p')" -- "$cur"))
		;;
	top)
		[[ $cur == -* ]] && COMPREPLY=($(compgen -W "-d --delay -n --iterations" -- "$cur"))
		;;
	metrics)
		[[ $cur == -* ]] && COMPREPLY=($(compgen -W "-o --output" -- "$cur"))
		;;
	esac
}
complete -F _uffdctl uffdctl
