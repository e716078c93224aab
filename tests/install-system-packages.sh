#!/usr/bin/env bash
# The system programs the tests use: espeak-ng and sox (speech synthesised on the fly),
# chromium and its driver (reports opened in a headless browser).
# Installs the missing ones with apt-get when run as root; otherwise names them and the command.
set -euo pipefail
declare -A package_of=([espeak-ng]=espeak-ng [sox]=sox [chromium]=chromium [chromedriver]=chromium-driver)
missing=()
for program in espeak-ng sox chromium chromedriver; do
  command -v "$program" >/dev/null || missing+=("${package_of[$program]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "installing system packages for the tests: ${missing[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "the tests need these system packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
