#!/usr/bin/env bash
# Makes sure what the test suite talks to is here: PostgreSQL and Redis running on
# loopback, Debian's Chromium for the browser tests, docker-compose to validate the
# compose file, nginx for production's web tier (tests/e2e/test_production_layout.py and
# bench/load.py start their own, on loopback ports; the machine's nginx stays as it is).
# Starts a service that is installed but stopped; installs the Debian packages when it
# can (root with apt-get); otherwise says what is missing.
set -u

PG_PORT=${PG_PORT:-5432}
REDIS_PORT=${REDIS_PORT:-6379}
missing=()

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {  # port, seconds
  for _ in $(seq 1 "$2"); do listening "$1" && return 0; sleep 1; done
  return 1
}

if ! listening "$PG_PORT"; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "PostgreSQL is installed but not running: starting it"
    for version in /etc/postgresql/*; do
      pg_ctlcluster --skip-systemctl-redirect "$(basename "$version")" main start || true
    done
    wait_for "$PG_PORT" 30 || missing+=("PostgreSQL did not start on 127.0.0.1:$PG_PORT")
  else
    missing+=("PostgreSQL: nothing listens on 127.0.0.1:$PG_PORT and no server is installed (Debian: apt-get install postgresql)")
  fi
fi

if ! listening "$REDIS_PORT"; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "Redis is installed but not running: starting it"
    mkdir -p /tmp/mge-redis
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" \
      --appendonly no --dir /tmp/mge-redis --logfile /tmp/mge-redis/redis.log
    wait_for "$REDIS_PORT" 15 || missing+=("Redis did not start on 127.0.0.1:$REDIS_PORT")
  else
    missing+=("Redis: nothing listens on 127.0.0.1:$REDIS_PORT and redis-server is not installed (Debian: apt-get install redis-server)")
  fi
fi

apt_install() {  # package, what for
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's $1 ($2)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null \
      || missing+=("$1: apt-get install $1 failed ($2)")
  else
    missing+=("$1: not installed; run 'apt-get install $1' as root ($2)")
  fi
}

[ -x /usr/bin/chromium ] || apt_install chromium "the browser tests drive /usr/bin/chromium"
command -v docker-compose >/dev/null 2>&1 || apt_install docker-compose "validates docker-compose.yml offline"
# nginx-light's package starts the machine's nginx on port 80 where it can; nothing here
# needs that one.
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] \
  || apt_install nginx-light "production's web tier in the browser test and the load bench"

if [ ${#missing[@]} -gt 0 ]; then
  echo "Cannot run the tests; missing:" >&2
  for item in "${missing[@]}"; do echo "  - $item" >&2; done
  exit 1
fi
echo "Services ready: PostgreSQL on :$PG_PORT, Redis on :$REDIS_PORT, chromium, docker-compose, nginx"
