#!/usr/bin/env bash
# The seed document's walkthrough, on SQLite, in a throwaway cargo package.
# Needs only a Rust toolchain: rusqlite bundles SQLite. Run from anywhere:
#     bash examples/quickstart.sh
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"

echo "==> building cargo-alembic"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
cargo build --quiet --manifest-path "$repo/Cargo.toml" -p cargo-alembic
export PATH="$CARGO_TARGET_DIR/debug:$PATH"   # `cargo alembic` runs cargo-alembic from PATH

# fill FILE UPGRADE_SQL DOWNGRADE_SQL: what a user does in their editor after `revision`.
fill() {
  awk -v up="$2" -v down="$3" '{ print } $0 == "-- +upgrade" { print up } $0 == "-- +downgrade" { print down }' \
    "$1" > "$1.tmp" && mv "$1.tmp" "$1"
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
run() { printf '\n$'; printf ' %q' "$@"; printf '\n'; "$@"; }

run cargo new --quiet --vcs none promptpilot
cd promptpilot
run cargo alembic init
# Point the database at data/ as the seed does.
mkdir -p data
sed -i 's#^url = .*#url = "sqlite:///./data/promptpilot.db"#' alembic.toml

run cargo alembic revision -m "initial migration" --rev-id 1_initial_migration
fill migrations/versions/1_initial_migration*.sql \
  "CREATE TABLE prompts (id INTEGER PRIMARY KEY, name TEXT NOT NULL, status TEXT);" \
  "DROP TABLE prompts;"

run cargo alembic revision -m "Add indexes to prompts table" --rev-id 2_add_indexes
f=$(ls migrations/versions/2_add_indexes*.sql)
fill "$f" "CREATE INDEX ix_prompts_name ON prompts (name);" "DROP INDEX ix_prompts_name;"
run cat "$f"

run cargo alembic upgrade head
run cargo alembic history --verbose
run cargo alembic current
cargo alembic current | grep -q "head" && echo "Migrations up to date"
run cargo alembic downgrade -1
run cargo alembic current
run cargo alembic downgrade base
run cargo alembic history --indicate-current

# The seed's test environment: a second configuration file, a second database.
sed 's#promptpilot.db#promptpilot_test.db#' alembic.toml > alembic_test.toml
run cargo alembic -c alembic_test.toml upgrade head
run cargo alembic -c alembic_test.toml current
run cargo alembic upgrade head --sql
echo
echo "==> quickstart finished: every step of the walkthrough ran on SQLite"
