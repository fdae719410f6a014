#!/bin/sh
# Runs the real ffmpeg with a parent-death signal, so ffmpeg dies with the
# origin even when the origin is SIGKILLed and gets no chance to clean up, and
# in a session of its own, so a Ctrl-C at the terminal reaches only the origin,
# which then stops ffmpeg itself instead of seeing it "fail" first.
exec setsid setpriv --pdeathsig KILL -- "$P2P_FFMPEG_REAL" "$@"
