# Turns a board profile into a C++ source with its text, so the daemon can
# start on its embedded default without any file installed.
file(READ "${INPUT}" content)
file(WRITE "${OUTPUT}" "// generated from ${INPUT}: do not edit\n"
  "namespace smtpgw::board { extern const char kEmbedded_${NAME}[];\n"
  "const char kEmbedded_${NAME}[] = R\"smtpgw_board(${content})smtpgw_board\"; }\n")
