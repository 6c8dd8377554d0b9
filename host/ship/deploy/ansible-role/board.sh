#!/bin/sh
# The board side of the slimedge Ansible role: one step of a release per call, the same steps and on-board
# layout as `slimedge deploy` (releases/<id>, releases/.tmp-<id>-<random>, current, previous, .lock,
# .slimedge-releases). Every step but `lock` and `health` runs only while this play holds the lock.
#
#   board.sh lock     DIR TOKEN WHO WAIT LEASE   take DIR/.lock (waiting up to WAIT s); a holder process keeps it
#                                                until unlock, or for LEASE s at most should the play die
#   board.sh unlock   DIR TOKEN                  let go of the lock (only when this TOKEN holds it)
#   board.sh probe    DIR TOKEN ID               ledger and symlink checks, stale temporaries removed; one JSON line
#   board.sh stage    DIR TOKEN ID               append ID to the ledger, create releases/.tmp-ID-TOKEN
#   board.sh verify   DIR TOKEN PATH HASH        sha256sum -c MANIFEST.sha256 in DIR/PATH, the manifest's own sha256 is HASH
#   board.sh switch   DIR TOKEN ID STAGED        releases/.tmp-ID-TOKEN → releases/ID (STAGED=yes), previous and current by rename
#   board.sh health   DIR RUNTIME NAME STEPS PROMPT   run current/NAME.cmd.wasm greedily; one JSON line
#   board.sh restore  DIR TOKEN ID OLDCUR OLDPREV STAGED   current and previous back as they were; drop ID when STAGED=yes
#   board.sh prune    DIR TOKEN KEEP             keep the last KEEP releases of the ledger (and current, previous)
#   board.sh cleanup  DIR TOKEN ID               remove this attempt's releases/.tmp-ID-TOKEN
#   board.sh rollback DIR TOKEN                  current ← previous, previous ← current, after checking previous
set -u
step=$1
given=$2
die() { echo "$*" >&2; exit 2; }
case "$given" in
  *"
"*) die "$given: a board directory is one line" ;;
esac
case "/$given/" in */../*) die "$given: climbs with ..; give the board directory without .. parts" ;; esac
case "$given" in
  "~") d=$HOME ;;
  "~/"*) d=$HOME/${given#"~/"} ;;
  "~"*) die "$given: ~user is not supported; use ~/… or an absolute path" ;;
  /*) d=$given ;;
  *) d=$HOME/$given ;;
esac
[ "$d" != / ] || die "$given: is the root directory; name a directory of its own for the releases"
LEDGER=.slimedge-releases
LEDGER_HEAD="# slimedge releases v1"
# @SHARED@
# @LOCK-TAKE@
mine() { [ "$(sed -n 's/^token=//p' .lock/owner 2>/dev/null)" = "$1" ]; }
json() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g' | tr -d '\n\r'; }
ledger_write() { t=$LEDGER.tmp-$1-$$; cat > "$t" && mv -f -- "$t" $LEDGER; }
under_lock() {
  [ ! -L "$d" ] || die "$given is a symbolic link; slimedge will not write or delete through it"
  cd -- "$d" 2>/dev/null || die "cannot use $given: it does not exist or is not a directory"
  mine "$1" || die "$given/.lock is no longer held by this play (token $1): its lease ran out or it was broken; nothing was changed, run the play again"
}

case "$step" in
lock)
  token=$3 who=$(printf '%s' "$4" | tr -c 'A-Za-z0-9._@:()-' '_') wait=$5 lease=$6
  [ ! -L "$d" ] || die "$given is a symbolic link; slimedge will not write or delete through it"
  mkdir -p -- "$d" 2>/dev/null || die "cannot create $given"
  cd -- "$d" || die "cannot use $given"
  if ! out=$(lock_take "$wait" "$token"); then
    die "$given stayed locked for $wait s by another deploy ($(printf '%s\n' "$out" | sed -n 's/^busy=//p' | tail -n 1)); if none is running, remove $given/.lock there"
  fi
  # The holder: the lock's pid, alive while this play holds the lock. It ends when unlock removes the lock
  # (or another token holds it), and at the end of the lease it lets go as a dropped connection does.
  nohup sh -c 'i=0
    while [ "$i" -lt "$1" ]; do
      sleep 1
      i=$((i + 1))
      [ -d .lock ] || exit 0
      t=$(sed -n "s/^token=//p" .lock/owner 2>/dev/null)
      if [ -n "$t" ] && [ "$t" != "$2" ]; then exit 0; fi
    done
    if [ "$(sed -n "s/^token=//p" .lock/owner 2>/dev/null)" = "$2" ]; then rm -rf .lock; fi' slimedge-lock "$lease" "$token" </dev/null >/dev/null 2>&1 &
  printf 'pid=%s\nwho=%s\nsince=%s\ntoken=%s\n' $! "$who" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$token" > .lock/owner."$token"
  mv -- .lock/owner."$token" .lock/owner
  echo locked
  ;;
unlock)
  token=$3
  cd -- "$d" 2>/dev/null || exit 0
  if mine "$token"; then
    pid=$(sed -n 's/^pid=//p' .lock/owner 2>/dev/null)
    rm -rf .lock
    [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
    echo unlocked
  fi
  ;;
probe)
  token=$3 id=$4
  under_lock "$token"
  [ ! -L releases ] || die "$given/releases is a symbolic link; slimedge will not write or delete through it"
  [ ! -L $LEDGER ] || die "$given/$LEDGER is a symbolic link; slimedge will not write or delete through it"
  ledger=there
  if [ ! -f $LEDGER ]; then
    if { [ -d releases ] && [ -n "$(ls -A releases 2>/dev/null)" ]; } || { [ -e releases ] && [ ! -d releases ]; } || [ -e current ] || [ -L current ] || [ -e previous ] || [ -L previous ]; then
      die "$given/releases holds files slimedge did not create (no .slimedge-releases ledger); choose another --remote-dir"
    fi
    mkdir -p releases || die "cannot create $given/releases"
    echo "$LEDGER_HEAD" | ledger_write "$token"
    ledger=created
  fi
  [ "$(head -n 1 $LEDGER)" = "$LEDGER_HEAD" ] || die "$given/$LEDGER does not start with \"$LEDGER_HEAD\"; it is not a slimedge ledger"
  stale=0
  for e in releases/.tmp-*; do
    if [ -e "$e" ] && [ ! -L "$e" ]; then rm -rf -- "$e"; stale=$((stale + 1)); fi
  done
  for e in .current.tmp-* .previous.tmp-* $LEDGER.tmp-*; do if [ -L "$e" ] || [ -f "$e" ]; then rm -f -- "$e"; fi; done
  cur=$(readlink current 2>/dev/null || true)
  curhash=
  if [ -f current/MANIFEST.sha256 ]; then curhash=$(sum256 current/MANIFEST.sha256 | cut -c1-64); fi
  have=
  if [ -d "releases/$id" ] && [ ! -L "releases/$id" ] && [ -f "releases/$id/MANIFEST.sha256" ]; then have=$(sum256 "releases/$id/MANIFEST.sha256" | cut -c1-64); fi
  printf '{"dir":"%s","current":"%s","current_hash":"%s","have_hash":"%s","ledger":"%s","stale":%s}\n' "$(json "$d")" "$(json "$cur")" "$curhash" "$have" $ledger $stale
  ;;
stage)
  token=$3 id=$4
  under_lock "$token"
  { cat $LEDGER | grep -v -x -F -- "$id"; echo "$id"; } | ledger_write "$token" || die "cannot write $given/$LEDGER"
  mkdir -- "releases/.tmp-$id-$token" || die "cannot create $given/releases/.tmp-$id-$token"
  echo "staging=releases/.tmp-$id-$token"
  ;;
verify)
  token=$3 path=$4 hash=$5
  under_lock "$token"
  cd -- "$path" 2>/dev/null || die "$given/$path is missing"
  [ -f MANIFEST.sha256 ] && [ ! -L MANIFEST.sha256 ] || die "$given/$path/MANIFEST.sha256 is missing"
  got=$(sum256 MANIFEST.sha256 | cut -c1-64)
  [ "$got" = "$hash" ] || die "$given/$path/MANIFEST.sha256 has sha256 $got, not the release's $hash"
  while read -r sum name; do [ ! -L "$name" ] || die "$given/$path/$name is a symbolic link, not a release file"; done < MANIFEST.sha256
  if command -v sha256sum >/dev/null 2>&1; then out=$(sha256sum -c --strict MANIFEST.sha256 2>&1); else out=$(shasum -a 256 -c MANIFEST.sha256 2>&1); fi
  [ $? -eq 0 ] || die "sha256 check failed in $given/$path: $(printf '%s\n' "$out" | grep -v ': OK$' | tr '\n' ' ')"
  echo "sha256 ok: $(grep -c . MANIFEST.sha256) files"
  ;;
switch)
  token=$3 id=$4 staged=$5
  under_lock "$token"
  release=releases/$id
  [ ! -L "$release" ] || die "$given/$release is a symbolic link; slimedge will not write or delete through it"
  if [ "$staged" = yes ]; then
    rm -rf -- "$release"
    mv -- "releases/.tmp-$id-$token" "$release" || die "cannot rename the upload to $given/$release"
  else
    # a checked copy deployed again: it is the latest deploy in the ledger too
    new=$( { grep -v -x -F -- "$id" < $LEDGER; echo "$id"; } )
    if [ "$new" != "$(cat $LEDGER)" ]; then printf '%s\n' "$new" | ledger_write "$token" || die "cannot write $given/$LEDGER"; fi
  fi
  sync
  old=$(readlink current 2>/dev/null || true)
  oldprev=$(readlink previous 2>/dev/null || true)
  case "$old" in releases/[0-9a-f]*) ;; *) old= ;; esac
  if [ -n "$old" ] && [ "$old" != "$release" ] && [ -d "$old" ]; then ln -s -- "$old" ".previous.tmp-$token" && swap ".previous.tmp-$token" previous || exit 1; fi
  ln -s -- "$release" ".current.tmp-$token"
  swap ".current.tmp-$token" current || exit 1
  sync
  printf '{"old_current":"%s","old_previous":"%s"}\n' "$(json "$old")" "$(json "$oldprev")"
  ;;
health)
  runtime=$3 name=$4 steps=$5 prompt=$6
  cd -- "$d/current" 2>/dev/null || { echo '{"code":"no current release"}'; exit 0; }
  rt=
  # @RUNTIME-BIN@
  if [ -z "$rt" ]; then printf '{"code":"%s is not installed"}\n' "$runtime"; exit 0; fi
  out=$(mktemp) err=$(mktemp)
  # @RUNTIME-RUN@
  code=$?
  printf '{"code":"%s","sha256":"%s","text":"%s","error":"%s"}\n' $code "$(sum256 "$out" | cut -c1-64)" "$(json "$(head -c 300 "$out")")" "$(json "$(tail -n 1 "$err")")"
  rm -f -- "$out" "$err"
  ;;
restore)
  token=$3 id=$4 oldcur=$5 oldprev=$6 staged=$7
  under_lock "$token"
  if [ -n "$oldcur" ]; then ln -s -- "$oldcur" ".current.tmp-$token" && swap ".current.tmp-$token" current || exit 1; else rm -f current; fi
  if [ -n "$oldprev" ]; then ln -s -- "$oldprev" ".previous.tmp-$token" && swap ".previous.tmp-$token" previous || exit 1; else rm -f previous; fi
  sync
  if [ "$staged" = yes ] && [ "releases/$id" != "$oldcur" ] && [ "releases/$id" != "$oldprev" ] && [ -d "releases/$id" ] && [ ! -L "releases/$id" ]; then
    rm -rf -- "releases/$id"
    { cat $LEDGER | grep -v -x -F -- "$id"; } | ledger_write "$token"
  fi
  echo "current=$oldcur"
  ;;
prune)
  token=$3 keep=$4
  under_lock "$token"
  [ -f $LEDGER ] || exit 0
  cur=$(readlink current 2>/dev/null || true)
  prev=$(readlink previous 2>/dev/null || true)
  # ids in the order of their last deploy; only ids with a real folder count
  ids=$(sed 1d $LEDGER | awk 'NF { last[$0] = NR; line[NR] = $0 } END { for (i = 1; i <= NR; i++) if (i in line && last[line[i]] == i) print line[i] }' | grep -E -x '[0-9a-f]{12}')
  have=
  for id in $ids; do if [ -d "releases/$id" ] && [ ! -L "releases/$id" ]; then have="$have $id"; fi; done
  n=$(echo $have | wc -w)
  kept=
  removed=0
  i=0
  for id in $have; do
    i=$((i + 1))
    if [ "$i" -le $((n - keep)) ] && [ "releases/$id" != "$cur" ] && [ "releases/$id" != "$prev" ]; then
      rm -rf -- "releases/$id"
      removed=$((removed + 1))
    else
      kept="$kept $id"
    fi
  done
  new=$( { echo "$LEDGER_HEAD"; for id in $kept; do echo "$id"; done; } )
  rewrote=no
  if [ "$new" != "$(cat $LEDGER)" ]; then printf '%s\n' "$new" | ledger_write "$token"; rewrote=yes; fi
  printf '{"removed":%s,"ledger_rewritten":"%s","kept":"%s"}\n' $removed $rewrote "$(echo $kept)"
  ;;
cleanup)
  token=$3 id=$4
  cd -- "$d" 2>/dev/null || exit 0
  mine "$token" || exit 0
  t="releases/.tmp-$id-$token"
  if [ -d "$t" ] && [ ! -L "$t" ]; then rm -rf -- "$t"; echo "removed=$t"; fi
  ;;
rollback)
  token=$3
  under_lock "$token"
  prev=$(readlink previous 2>/dev/null || true)
  [ -n "$prev" ] || die "nothing to roll back on this board: $given has no previous release (one deploy so far)"
  case "$prev" in releases/[0-9a-f]*) ;; *) die "cannot roll back: previous points at $prev, not a release" ;; esac
  verify "$prev" || die "cannot roll back: the previous release $prev is no longer complete (a file is missing or its sha256 differs from its MANIFEST.sha256); current is unchanged"
  cur=$(readlink current 2>/dev/null || true)
  ln -s -- "$prev" ".current.tmp-$token"
  swap ".current.tmp-$token" current || exit 1
  if [ -n "$cur" ]; then ln -s -- "$cur" ".previous.tmp-$token" && swap ".previous.tmp-$token" previous || exit 1; fi
  sync
  printf '{"current":"%s","previous":"%s"}\n' "$(json "$prev")" "$(json "$cur")"
  ;;
*)
  die "board.sh: unknown step $step"
  ;;
esac
