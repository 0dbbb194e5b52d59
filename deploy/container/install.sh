#!/bin/sh
# Install flarewatch into a self-contained virtual environment: the container image's build
# step (the Dockerfile's builder stage runs exactly this; so does
# tests/integration/deploy/test_container.py, outside a container).
#
#   deploy/container/install.sh PREFIX CONFDIR [SOURCE]
#
# PREFIX   the virtual environment to create (the image uses /opt/flarewatch); it must not exist
# CONFDIR  where the shipped rule packs and the example config go (the image: /etc/flarewatch)
# SOURCE   the flarewatch source tree (default: the current directory)
#
# Dependencies come pinned from requirements.txt next to this script, as wheels only
# (--only-binary: nothing is compiled in the image), without resolving (--no-deps: the file is
# the complete closure, and `pip check` proves it is consistent). Where pip finds them is
# pip's business: PyPI by default, or PIP_INDEX_URL / PIP_NO_INDEX + PIP_FIND_LINKS.
# Afterwards pip and setuptools are removed from the environment (the runtime needs neither)
# and every module is compiled to bytecode that Python never re-validates
# (unchecked-hash), so start-up on a read-only root filesystem writes and rebuilds nothing.
set -eu

if [ "$#" -lt 2 ] || [ "$#" -gt 3 ]; then
    echo "usage: $0 PREFIX CONFDIR [SOURCE]" >&2
    exit 2
fi
prefix=$1
confdir=$2
source=${3:-.}
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3}

if [ -e "$prefix" ]; then
    echo "$0: $prefix already exists; install into a new directory" >&2
    exit 2
fi

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_NO_INPUT=1

"$python" -m venv "$prefix"
pip() { "$prefix/bin/python" -m pip --quiet "$@"; }
pip install --no-deps --only-binary=:all: --requirement "$here/requirements.txt"
pip install --no-deps "$source"
pip check
pip uninstall --yes pip setuptools

"$prefix/bin/python" -m compileall -q -f -j 0 --invalidation-mode unchecked-hash "$prefix/lib"

install -d -m 0755 "$prefix/libexec"
install -m 0644 "$here/healthcheck.py" "$prefix/libexec/flarewatch-healthcheck.py"

install -d -m 0755 "$confdir/rules"
install -m 0644 "$prefix"/share/flarewatch/config/rules/*.yaml "$confdir/rules/"
install -m 0644 "$prefix/share/flarewatch/config/example.yaml" "$confdir/flarewatch.example.yaml"
