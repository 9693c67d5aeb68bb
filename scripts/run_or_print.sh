# shellcheck shell=bash
# Sourced by the scripts in this directory: run a command, or with
# WINNOW_PRINT_ONLY=1 print it (shell-quoted) instead, which is how
# tests/test_deploy.py checks every flag against Beam's options.
run_or_print() {
  if [[ "${WINNOW_PRINT_ONLY:-}" == 1 ]]; then
    printf '%q ' "$@"
    echo
  else
    "$@"
  fi
}
