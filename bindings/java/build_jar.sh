#!/bin/sh
# Compiles Java sources into a jar: javac, jar, the jar to write, a scratch folder for
# the classes, the classpath ('' for none), then the sources.
set -e
javac=$1 jar=$2 out=$3 classes=$4 cp=$5
shift 5
rm -rf "$classes"
mkdir -p "$classes"
"$javac" -Xlint:all,-try -Werror -encoding UTF-8 ${cp:+-cp "$cp"} -d "$classes" "$@"
"$jar" --create --file "$out" -C "$classes" .
