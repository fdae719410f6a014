#!/bin/sh
# Runs the real ffmpeg with a parent-death signal, so ffmpeg dies with the
# origin even when the origin is SIGKILLed and gets no chance to clean up.
exec setpriv --pdeathsig KILL -- "$P2P_FFMPEG_REAL" "$@"
