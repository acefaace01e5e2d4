#!/usr/bin/env bash
# Run tuneloop as containers (the images of scripts/build-images.sh) and drive one short
# retraining loop through them (scripts/container_loop.py): each service in its own container,
# host network on loopback, read-only root filesystem with /tmp a tmpfs and /data the image's
# volume (as on Kubernetes, where both are emptyDirs), a fresh PostgreSQL database on 127.0.0.1:5432, artifacts in S3 (moto_server on
# loopback). The schema is migrated first by `tuneloop migrate`, as the chart's hook Job does;
# the services only check it. Prints each step with its time; exits non-zero when the loop
# does not promote a first champion. Needs a running Docker engine, and .venv (test extras).
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${TAG:-dev}"
py=.venv/bin/python
base=$((20000 + RANDOM % 20000))
s3=$((base)); dataprep=$((base + 1)); registry=$((base + 2)); trainer=$((base + 3)); evaluator=$((base + 4))
controller=$((base + 5)); serving=$((base + 6))
db="tuneloop_containers_$$"
work=$(mktemp -d)
names=()
cleanup() {
  for n in "${names[@]}"; do docker rm -f -v "$n" >/dev/null 2>&1 || true; done
  [ -n "${moto:-}" ] && kill "$moto" 2>/dev/null || true
  "$py" - "$db" <<'PY' || true
import sys, psycopg
with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
    c.execute(f'DROP DATABASE IF EXISTS "{sys.argv[1]}" WITH (FORCE)')
PY
  rm -rf "$work"
}
trap cleanup EXIT
t0=$SECONDS
say() { printf '%6ss  %s\n' $((SECONDS - t0)) "$*"; }

.venv/bin/moto_server -H 127.0.0.1 -p "$s3" >"$work/moto.log" 2>&1 &
moto=$!
"$py" - "$db" "$s3" <<'PY'
import sys, time, boto3, psycopg
with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
    c.execute(f'CREATE DATABASE "{sys.argv[1]}"')
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[2]}", region_name="us-east-1",
                  aws_access_key_id="tuneloop", aws_secret_access_key="tuneloop")
for _ in range(100):
    try:
        s3.create_bucket(Bucket="tuneloop")
        break
    except Exception:
        time.sleep(0.2)
PY
say "PostgreSQL database $db and S3 bucket tuneloop (moto on :$s3) ready"

common=(--network host --read-only --tmpfs /tmp:exec,mode=1777
        -e "TUNELOOP_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/$db"
        -e TUNELOOP_ARTIFACT_URL=s3://tuneloop/artifacts -e "TUNELOOP_S3_ENDPOINT_URL=http://127.0.0.1:$s3"
        -e TUNELOOP_S3_ACCESS_KEY_ID=tuneloop -e TUNELOOP_S3_SECRET_ACCESS_KEY=tuneloop -e HOME=/tmp/home
        -e "TUNELOOP_DATAPREP_ADDRESS=127.0.0.1:$dataprep" -e "TUNELOOP_REGISTRY_ADDRESS=127.0.0.1:$registry"
        -e "TUNELOOP_TRAINER_ADDRESS=127.0.0.1:$trainer" -e "TUNELOOP_EVALUATOR_ADDRESS=127.0.0.1:$evaluator"
        -e "TUNELOOP_CONTROLLER_ADDRESS=127.0.0.1:$controller" -e "TUNELOOP_SERVING_ADDRESS=127.0.0.1:$serving")
docker run --rm "${common[@]}" "tuneloop:$tag" migrate
say "migrated (tuneloop migrate in tuneloop:$tag)"

serve() {  # SERVICE IMAGE PORT [docker args...]
  local service=$1 image=$2 port=$3
  shift 3
  names+=("tuneloop-$service-$$")
  docker run -d --name "tuneloop-$service-$$" "${common[@]}" -e "TUNELOOP_ADDRESS=127.0.0.1:$port" \
    -e TUNELOOP_DB_MIGRATE=false -e TUNELOOP_METRICS_HOST=127.0.0.1 -e "TUNELOOP_METRICS_PORT=$((port + 100))" \
    "$@" "$image" serve "$service" >/dev/null
}
logs() { for n in "${names[@]}"; do echo "--- $n"; docker logs --tail 40 "$n" 2>&1; done; }
serve dataprep "tuneloop:$tag" "$dataprep"
serve registry "tuneloop:$tag" "$registry"
serve controller "tuneloop:$tag" "$controller"
serve trainer "tuneloop-ml:$tag" "$trainer" --shm-size 2g -e RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
serve evaluator "tuneloop-ml:$tag" "$evaluator"
serve serving "tuneloop-ml:$tag" "$serving"
say "started ${#names[@]} containers"
healthy=0
for _ in $(seq 60); do
  if docker run --rm "${common[@]}" "tuneloop:$tag" health --timeout 3 >"$work/health.txt" 2>&1; then
    healthy=1
    break
  fi
  sleep 3
done
cat "$work/health.txt"
[ "$healthy" = 1 ] || { logs; exit 1; }
say "every service SERVING (tuneloop health, from a container)"
export TUNELOOP_DATAPREP_ADDRESS=127.0.0.1:$dataprep TUNELOOP_REGISTRY_ADDRESS=127.0.0.1:$registry \
  TUNELOOP_TRAINER_ADDRESS=127.0.0.1:$trainer TUNELOOP_EVALUATOR_ADDRESS=127.0.0.1:$evaluator \
  TUNELOOP_CONTROLLER_ADDRESS=127.0.0.1:$controller TUNELOOP_SERVING_ADDRESS=127.0.0.1:$serving HF_HUB_OFFLINE=1
if ! "$py" scripts/container_loop.py "$work"; then
  logs
  exit 1
fi
docker stats --no-stream --format 'table {{.Name}}\t{{.MemUsage}}' "${names[@]}"
docker image ls --format 'table {{.Repository}}:{{.Tag}}\t{{.Size}}' | grep -E "REPOSITORY|tuneloop"
say "done: a first champion promoted through the containers"
