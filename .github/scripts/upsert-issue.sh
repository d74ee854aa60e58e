#!/usr/bin/env bash
# Open an issue with this title, or add a comment to the open one: one issue per finding, never a storm.
# Usage: upsert-issue.sh <title> <markdown file>
set -euo pipefail
title="$1"
body_file="$2"
number=$(gh issue list --state open --search "in:title \"${title}\"" --json number,title \
  --jq "map(select(.title == \"${title}\")) | .[0].number // empty")
if [ -n "$number" ]; then
  gh issue comment "$number" --body-file "$body_file"
else
  gh issue create --title "$title" --body-file "$body_file"
fi
