#!/usr/bin/env bash
# Create or update the one change-record comment of a pull request (found by its marker).
# Usage: sticky-comment.sh <pr number> <markdown file>
set -euo pipefail
pr="$1"
body_file="$2"
marker="<!-- parsify-change-record -->"
{ echo "$marker"; cat "$body_file"; } > sticky-body.md
existing=$(gh api "repos/${GITHUB_REPOSITORY}/issues/${pr}/comments" --paginate \
  --jq ".[] | select(.body | startswith(\"${marker}\")) | .id" | head -n 1)
if [ -n "$existing" ]; then
  gh api --method PATCH "repos/${GITHUB_REPOSITORY}/issues/comments/${existing}" -F body=@sticky-body.md > /dev/null
else
  gh pr comment "$pr" --body-file sticky-body.md
fi
