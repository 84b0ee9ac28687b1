#!/usr/bin/env bash
# Make sure PostgreSQL, Redis and RabbitMQ answer on 127.0.0.1.
# Starts them if installed and stopped; as root on Debian installs missing ones with apt-get;
# otherwise says exactly what is missing and exits 1.
set -euo pipefail

PG_PORT="${MAJLIS_PG_PORT:-5432}"
REDIS_PORT="${MAJLIS_REDIS_PORT:-6379}"
AMQP_PORT="${MAJLIS_AMQP_PORT:-5672}"

say() { printf 'ensure-services: %s\n' "$*" >&2; }
is_root() { [ "$(id -u)" = 0 ]; }
can_apt() { is_root && command -v apt-get >/dev/null 2>&1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # port seconds name
  local i
  for ((i = 0; i < $2 * 2; i++)); do port_open "$1" && return 0; sleep 0.5; done
  say "$3 did not start listening on 127.0.0.1:$1 within $2 s"; return 1
}
APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
missing=()

ensure_postgres() {
  port_open "$PG_PORT" && return 0
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    if can_apt; then
      say "installing PostgreSQL with apt-get"; apt_install postgresql
      # A fresh developer cluster: trust loopback connections, as this project's set-up expects.
      for hba in /etc/postgresql/*/main/pg_hba.conf; do
        grep -q 'majlis-dev-trust' "$hba" || sed -i '1i host all all 127.0.0.1/32 trust # majlis-dev-trust\nhost all all ::1/128 trust # majlis-dev-trust' "$hba"
      done
    else
      missing+=("PostgreSQL (server on 127.0.0.1:$PG_PORT; Debian package: postgresql)"); return 0
    fi
  fi
  local version
  for version in $(ls /etc/postgresql 2>/dev/null); do
    say "starting PostgreSQL $version"
    if is_root; then
      pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
    else
      pg_ctlcluster "$version" main start 2>/dev/null || true
    fi
  done
  wait_port "$PG_PORT" 30 PostgreSQL
}

ensure_redis() {
  port_open "$REDIS_PORT" && return 0
  if ! command -v redis-server >/dev/null 2>&1; then
    if can_apt; then say "installing Redis with apt-get"; apt_install redis-server
    else missing+=("Redis (server on 127.0.0.1:$REDIS_PORT; Debian package: redis-server)"); return 0; fi
  fi
  say "starting Redis"
  mkdir -p /tmp/majlis-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir /tmp/majlis-redis --logfile /tmp/majlis-redis/redis.log
  wait_port "$REDIS_PORT" 20 Redis
}

ensure_rabbitmq() {
  port_open "$AMQP_PORT" && return 0
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    if can_apt; then say "installing RabbitMQ with apt-get"; apt_install rabbitmq-server
    else missing+=("RabbitMQ (broker on 127.0.0.1:$AMQP_PORT, user guest/guest; Debian package: rabbitmq-server)"); return 0; fi
  fi
  port_open "$AMQP_PORT" && return 0  # the package's own service may have started it
  say "starting RabbitMQ"
  rabbitmq-server -detached >/dev/null 2>&1 || true
  wait_port "$AMQP_PORT" 90 RabbitMQ
  if command -v rabbitmqctl >/dev/null 2>&1; then rabbitmqctl -q await_startup >/dev/null 2>&1 || true; fi
}

ensure_postgres
ensure_redis
ensure_rabbitmq
if [ "${#missing[@]}" -gt 0 ]; then
  say "missing and not installable here (run as root on Debian to install them automatically):"
  for m in "${missing[@]}"; do say "  - $m"; done
  exit 1
fi
say "PostgreSQL :$PG_PORT, Redis :$REDIS_PORT and RabbitMQ :$AMQP_PORT are up"
