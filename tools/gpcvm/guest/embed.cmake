# embed.cmake - turn the guest's flat binary into a C array.
#   cmake -DIN=guest.bin -DOUT=guest_image.c -P embed.cmake
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR size "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE ${OUT}
"/* Generated from ${IN} by embed.cmake: do not edit. */\n"
"#include <stddef.h>\n"
"const unsigned char gpcvm_guest_image[] = {\n${bytes}\n};\n"
"const size_t gpcvm_guest_image_size = ${size};\n")
