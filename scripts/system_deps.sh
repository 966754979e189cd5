#!/usr/bin/env bash
# System packages the tests use: ffmpeg (test audio in many formats), chromium (browser test),
# espeak-ng + sox (synthesised speech), curl (the API as other tools call it), pandoc (DOCX and Markdown exports
# read back by another program). Installs only what is
# missing; needs root or sudo.
set -euo pipefail
need=()
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v chromium >/dev/null || need+=(chromium)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v sox >/dev/null || need+=(sox)
command -v curl >/dev/null || need+=(curl)
command -v pandoc >/dev/null || need+=(pandoc)
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "The tests need these system packages: ${need[*]}. Installing them needs root: run ./test.sh as root," >&2
    echo "install sudo, or install them yourself (apt-get install ${need[*]})." >&2
    exit 1
  fi
  sudo="sudo"
fi
echo "Installing system packages: ${need[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
