package dev.burrow.server.http;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

import dev.burrow.api.AccountApiTypes;
import dev.burrow.core.error.BurrowException;
import dev.burrow.core.error.ErrorCode;
import dev.burrow.core.vm.GuestPath;

/**
 * The create fields {@code users} and {@code groups} as one POSIX shell script run in the VM at create (before
 * services start, so they can run as these users). Images need no useradd: the script edits /etc/passwd, /etc/group
 * and, where the image has them, /etc/shadow and /etc/gshadow itself, with busybox-or-coreutils tools. Accounts the
 * image already has are kept (a fixed id that differs fails the create); supplementary groups must exist.
 */
final class LinuxAccounts {
    private static final Pattern NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_.-]{0,31}");
    private static final long MAX_ID = 2_147_483_647L;
    private static final int MAX_ACCOUNTS = 200;

    private LinuxAccounts() { }

    /** The script, or null when the request has no accounts. Validates everything first. */
    static String script(List<AccountApiTypes.LinuxUser> users, List<AccountApiTypes.LinuxGroup> groups) {
        users = users == null ? List.of() : users;
        groups = groups == null ? List.of() : groups;
        if (users.isEmpty() && groups.isEmpty()) return null;
        if (users.size() + groups.size() > MAX_ACCOUNTS) throw bad("at most " + MAX_ACCOUNTS + " users and groups");
        StringBuilder sb = new StringBuilder(PRELUDE);
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < groups.size(); i++) {
            var g = groups.get(i);
            String f = "groups[" + i + "]";
            if (g == null) throw bad(f + " must be an object");
            name(g.name(), f + ".name");
            if (!seen.add("g:" + g.name())) throw bad(f + ".name '" + g.name() + "' is given twice");
            sb.append("add_group ").append(q(g.name())).append(' ').append(id(g.gid(), f + ".gid")).append(' ')
                    .append(Boolean.TRUE.equals(g.system()) ? 1 : 0).append('\n');
        }
        for (int i = 0; i < users.size(); i++) {
            var u = users.get(i);
            String f = "users[" + i + "]";
            if (u == null) throw bad(f + " must be an object");
            name(u.name(), f + ".name");
            if (!seen.add("u:" + u.name())) throw bad(f + ".name '" + u.name() + "' is given twice");
            boolean system = Boolean.TRUE.equals(u.system());
            text(u.gecos(), f + ".gecos", false);
            text(u.home(), f + ".home", true);
            String home = u.home() == null ? "" : GuestPath.normalized(u.home());
            if (home == null) {
                throw BurrowException.of(ErrorCode.USER_HOME_INVALID, "User '" + u.name() + "' has invalid home path: "
                        + f + ".home must be an absolute path without '..' (components of at most "
                        + GuestPath.MAX_COMPONENT_BYTES + " bytes)");
            }
            text(u.shell(), f + ".shell", true);
            List<String> extra = new ArrayList<>();
            if (u.groups() != null) {
                for (String g : u.groups()) {
                    name(g, f + ".groups[]");
                    if (!extra.contains(g)) extra.add(g);
                }
            }
            sb.append("add_user ").append(q(u.name())).append(' ').append(id(u.uid(), f + ".uid")).append(' ')
                    .append(system ? 1 : 0).append(' ').append(q(u.gecos() == null ? "" : u.gecos())).append(' ')
                    .append(q(home)).append(' ').append(q(u.shell() == null ? "" : u.shell()))
                    .append(' ').append(q(String.join(" ", extra))).append('\n');
        }
        return sb.toString();
    }

    private static void name(String n, String field) {
        if (n == null || !NAME.matcher(n).matches()) {
            throw bad(field + " must be 1-32 letters, digits or _.- (not starting with a digit, '.' or '-'), got "
                    + (n == null ? "nothing" : "'" + (n.length() > 40 ? n.substring(0, 40) + "…" : n) + "'"));
        }
    }

    private static String id(Long id, String field) {
        if (id == null) return "-";
        if (id < 1 || id > MAX_ID) throw bad(field + " must be between 1 and " + MAX_ID + " (0 is root's)");
        return Long.toString(id);
    }

    private static void text(String s, String field, boolean absolute) {
        if (s == null) return;
        if (s.length() > 4096 || s.chars().anyMatch(c -> c < 0x20 || c == ':')) {
            throw bad(field + " must not contain ':' or control characters");
        }
        if (absolute && !s.startsWith("/")) throw bad(field + " must be an absolute path");
    }

    private static String q(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }

    private static BurrowException bad(String message) {
        return BurrowException.of(ErrorCode.CREATE_VM_BAD_REQUEST, message);
    }

    private static final String PRELUDE = """
            set -e
            fail() { echo "burrow: $*" >&2; exit 1; }
            touch /etc/passwd /etc/group
            field() { # file name index: the index-th field of name's line, empty when absent
              while IFS=: read -r a b c d rest; do
                if [ "$a" = "$2" ]; then case $3 in 3) echo "$c" ;; 4) echo "$d" ;; *) echo "$a" ;; esac; return 0; fi
              done < "$1"; return 1
            }
            id_used() { # file id
              while IFS=: read -r a b c rest; do [ "$c" = "$2" ] && return 0; done < "$1"; return 1
            }
            free_id() { # system: next free id in both files, from 1000 up or from 999 down
              if [ "$1" = 1 ]; then i=999; step=-1; else i=1000; step=1; fi
              while id_used /etc/passwd $i || id_used /etc/group $i; do i=$((i + step)); [ $i -gt 100 ] || fail "no free id"; done
              echo $i
            }
            add_group() { # name gid|- system
              if old=$(field /etc/group "$1" 3); then
                [ "$2" = - ] || [ "$2" = "$old" ] || fail "group $1 exists with gid $old, not $2"
                return 0
              fi
              g=$2
              if [ "$g" = - ]; then g=$(free_id "$3"); elif id_used /etc/group "$g"; then fail "gid $g is taken"; fi
              echo "$1:x:$g:" >> /etc/group
              [ ! -f /etc/gshadow ] || echo "$1:!::" >> /etc/gshadow
            }
            add_member() { # group user
              field /etc/group "$1" 1 >/dev/null || fail "group $1 does not exist"
              : > /etc/group.burrow
              while IFS= read -r line; do
                case "$line" in
                  "$1":*)
                    m=${line##*:}
                    case ",$m," in *",$2,"*) ;; *) if [ -z "$m" ]; then line="$line$2"; else line="$line,$2"; fi ;; esac ;;
                esac
                printf '%s\\n' "$line" >> /etc/group.burrow
              done < /etc/group
              cat /etc/group.burrow > /etc/group; rm -f /etc/group.burrow
            }
            add_user() { # name uid|- system gecos home shell groups
              if old=$(field /etc/passwd "$1" 3); then
                [ "$2" = - ] || [ "$2" = "$old" ] || fail "user $1 exists with uid $old, not $2"
              else
                u=$2
                if [ "$u" = - ]; then u=$(free_id "$3"); elif id_used /etc/passwd "$u"; then fail "uid $u is taken"; fi
                if g=$(field /etc/group "$1" 3); then :; else
                  if id_used /etc/group "$u"; then g=$(free_id "$3"); else g=$u; fi
                  echo "$1:x:$g:" >> /etc/group
                  [ ! -f /etc/gshadow ] || echo "$1:!::" >> /etc/gshadow
                fi
                home=$5; shell=$6
                if [ -z "$home" ]; then if [ "$3" = 1 ]; then home=/; else home=/home/$1; fi; fi
                if [ -z "$shell" ]; then
                  if [ "$3" = 1 ]; then
                    shell=/usr/sbin/nologin; [ -x $shell ] || shell=/sbin/nologin; [ -x $shell ] || shell=/bin/false
                  else
                    shell=/bin/bash; [ -x $shell ] || shell=/bin/sh
                  fi
                fi
                echo "$1:x:$u:$g:$4:$home:$shell" >> /etc/passwd
                [ ! -f /etc/shadow ] || echo "$1:!:$(( $(date +%s) / 86400 )):0:99999:7:::" >> /etc/shadow
                if [ "$3" != 1 ] && [ "$home" != / ] && [ ! -e "$home" ]; then
                  mkdir -p "$home"
                  [ ! -d /etc/skel ] || cp -a /etc/skel/. "$home"/ 2>/dev/null || true
                  chown -R "$u:$g" "$home"; chmod 750 "$home"
                fi
              fi
              for grp in $7; do add_member "$grp" "$1"; done
            }
            """;
}
