#!/bin/sh
# Print the path of a Python >= 3.12 on this machine, or fail with a clear message.
# Order: $PYTHON, python3.13, python3.12, python3, then pyenv-installed versions
# (pyenv shims that are not selected fail to run and are skipped).
ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; }
if [ -n "$PYTHON" ]; then
    ok "$PYTHON" && { echo "$PYTHON"; exit 0; }
    echo "find-python: PYTHON=$PYTHON is not a working Python >= 3.12" >&2; exit 1
fi
root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
for p in python3.13 python3.12 python3 \
         $(ls -d "$root"/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV) \
         /usr/local/bin/python3.1[2-9] /usr/bin/python3.1[2-9]; do
    if ok "$p"; then command -v "$p" 2>/dev/null || echo "$p"; exit 0; fi
done
echo "find-python: no Python >= 3.12 found; install one or pass PYTHON=/path/to/python3.12" >&2
exit 1
