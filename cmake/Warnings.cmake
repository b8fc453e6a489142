# Warnings are errors in our own code (never applied to system headers).
add_library(smtpgw_warnings INTERFACE)
target_compile_options(smtpgw_warnings INTERFACE
  -Wall -Wextra -Werror -Wshadow -Wnon-virtual-dtor -Wcast-align
  -Wimplicit-fallthrough -Wformat=2 -Wundef)
