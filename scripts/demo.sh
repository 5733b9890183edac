#!/usr/bin/env bash
# Runs the demo: a Celery worker (with the beat schedule) and uvicorn, side by side.
# Ctrl-C stops both.
set -u
PORT=${PORT:-8000}
PY=.venv/bin

"$PY/celery" -A config worker --beat --loglevel INFO --concurrency 2 &
worker=$!
"$PY/uvicorn" config.asgi:application --host 127.0.0.1 --port "$PORT" --log-level info --timeout-keep-alive 75 &
web=$!

stop() { kill -TERM "$worker" "$web" 2>/dev/null; wait "$worker" "$web" 2>/dev/null; exit 0; }
trap stop INT TERM

sleep 3
echo
echo "MGE Studio is running at http://127.0.0.1:$PORT/  (demo study: http://127.0.0.1:$PORT/s/demo/)"
echo "Researcher pages: http://127.0.0.1:$PORT/research/  (sign in with the login printed above; admin at /admin/)"
echo "Press Ctrl-C to stop the web server and the worker."
wait -n "$worker" "$web"
stop
