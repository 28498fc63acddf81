# routerlab: the image's PATH, as its recipe gave it (tools carried in under a prefix of
# their own come first). OpenWrt's /etc/profile sources this after setting its own PATH.
[ -r /etc/routerlab/path ] && PATH=$(cat /etc/routerlab/path) && export PATH
