#!/bin/sh
# The C compiler a recipe's make calls: zig cc for one target and its CPU, written into
# each build's scratch directory by routerlab. The recipe's own flags come from make.
exec "{{zig}}" cc -target {{triple}} {{cpu}} "$@"
