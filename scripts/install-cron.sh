#!/usr/bin/env bash
# Install, update or remove cronlytics' jobs in the current user's crontab.
#
#   scripts/install-cron.sh [--home DIR] [--bin-dir DIR] [--mailto ADDRESS] [--dry-run]
#   scripts/install-cron.sh --uninstall [--dry-run]
#
# The jobs are crontab.example with its placeholders filled in, between the
# lines "# BEGIN cronlytics <version>" and "# END cronlytics <version>". A
# crontab that already has such a block (of any version) gets it replaced
# where it stands; otherwise the block goes at the end. Lines outside the
# block are never touched, and running the script twice changes nothing.
#
#   --home DIR      the store, artifacts/, exports/, incoming/ and logs/; made
#                   when missing (default: /var/lib/cronlytics for root, else
#                   ~/.local/state/cronlytics)
#   --bin-dir DIR   the built jobs (default: target/release of this checkout)
#   --mailto ADDR   who gets cron's mail (default: this user, local mail)
#   --dry-run       print the crontab that would be installed; change nothing
#   --uninstall     remove the block and nothing else (the directories stay)
#
# Environment: CRONTAB_CMD, the crontab program (default: crontab); tests
# point it at a fake so that no real crontab is touched.
# Exit codes: 0 done or nothing to do, 2 could not (the reason on stderr).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
crontab_cmd=${CRONTAB_CMD:-crontab}
user=$(id -un)
if [ "$(id -u)" = 0 ]; then
  home=/var/lib/cronlytics
else
  home=${XDG_STATE_HOME:-$HOME/.local/state}/cronlytics
fi
bin_dir=$root/target/release
mailto=$user
dry_run=0
uninstall=0

die() {
  echo "install-cron: $*" >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case $1 in
    --home) [ $# -ge 2 ] || die "--home needs a directory"; home=$2; shift 2 ;;
    --bin-dir) [ $# -ge 2 ] || die "--bin-dir needs a directory"; bin_dir=$2; shift 2 ;;
    --mailto) [ $# -ge 2 ] || die "--mailto needs an address"; mailto=$2; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    --uninstall) uninstall=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)
[ -n "$version" ] || die "cannot read the version from $root/Cargo.toml"
begin_re='^# BEGIN cronlytics( .*)?$'
end_re='^# END cronlytics( .*)?$'

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The current crontab; "no crontab for <user>" is an empty one.
if ! "$crontab_cmd" -l >"$tmp/current" 2>"$tmp/err"; then
  grep -q '^no crontab for' "$tmp/err" || die "'$crontab_cmd -l' failed: $(cat "$tmp/err")"
  : >"$tmp/current"
fi
blocks=$(grep -cE "$begin_re" "$tmp/current" || true)
ends=$(grep -cE "$end_re" "$tmp/current" || true)
[ "$blocks" = "$ends" ] || die "the crontab has $blocks '# BEGIN cronlytics' and $ends '# END cronlytics' lines: fix it with 'crontab -e' first"

# The crontab without any cronlytics block, with the new block (the file
# $1, or nothing) where the first one stood, else at the end.
splice() {
  awk -v begin="$begin_re" -v end="$end_re" -v block="$1" '
    function put(line) { if (block != "") while ((getline line < block) > 0) print line }
    $0 ~ begin { inside = 1; if (!done) put(); done = 1; next }
    inside { if ($0 ~ end) inside = 0; next }
    { print }
    END { if (!done) put() }
  ' "$tmp/current"
}

if [ "$uninstall" = 1 ]; then
  if [ "$blocks" = 0 ]; then
    echo "install-cron: no cronlytics block in the crontab of $user: nothing to remove" >&2
    exit 0
  fi
  splice "" >"$tmp/new"
else
  for dir_var in home bin_dir; do
    dir=${!dir_var}
    case $dir in /*) ;; *) dir=$PWD/$dir ;; esac
    # The paths go into crontab lines unquoted, where % is a newline.
    [[ $dir =~ ^[A-Za-z0-9/._,:@+~-]+$ ]] ||
      die "'$dir' cannot go into a crontab line: use a directory without spaces, % or quotes"
    printf -v "$dir_var" '%s' "$dir"
  done
  [[ $mailto =~ ^[A-Za-z0-9._@+,-]*$ ]] || die "'$mailto' is not a mail address cron understands"
  jobs=$(grep -oE '/opt/cronlytics/target/release/[a-z-]+' "$root/crontab.example" | sed 's|.*/||' | sort -u)
  for job in $jobs; do
    [ -x "$bin_dir/$job" ] || die "$bin_dir/$job is not built: run 'cargo build --release' in $root (or give --bin-dir DIR); nothing was changed"
  done

  {
    echo "# BEGIN cronlytics $version (scripts/install-cron.sh: run it again to update, --uninstall to remove)"
    while IFS= read -r line; do
      line=${line//\/opt\/cronlytics\/target\/release/"$bin_dir"}
      line=${line//\/var\/lib\/cronlytics/"$home"}
      case $line in MAILTO=*) line="MAILTO=$mailto" ;; esac
      printf '%s\n' "$line"
    done <"$root/crontab.example"
    echo "# END cronlytics $version"
  } >"$tmp/block"
  splice "$tmp/block" >"$tmp/new"
fi

if [ "$dry_run" = 1 ]; then
  cat "$tmp/new"
  exit 0
fi
if [ "$uninstall" = 0 ]; then
  mkdir -p "$home/artifacts" "$home/exports" "$home/incoming/done" "$home/logs"
fi
if cmp -s "$tmp/current" "$tmp/new"; then
  echo "install-cron: the crontab of $user already holds cronlytics $version: nothing to change" >&2
  exit 0
fi
"$crontab_cmd" - <"$tmp/new" || die "'$crontab_cmd -' refused the new crontab; the old one is unchanged"
if [ "$uninstall" = 1 ]; then
  echo "install-cron: removed the cronlytics block from the crontab of $user" >&2
else
  echo "install-cron: installed cronlytics $version in the crontab of $user: jobs in $bin_dir, data and logs in $home" >&2
fi
