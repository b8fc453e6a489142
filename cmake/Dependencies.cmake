# Finds every design-card dependency through pkg-config and names the Debian
# package to install when one is missing (scripts/setup installs them all).
find_package(PkgConfig REQUIRED)

function(smtpgw_require_pkg target module debian_pkg)
  pkg_check_modules(${target} QUIET IMPORTED_TARGET GLOBAL ${module})
  if(NOT ${target}_FOUND)
    message(FATAL_ERROR
      "smtpgw needs ${module} (pkg-config module '${module}'): "
      "install the Debian package '${debian_pkg}' (scripts/setup installs everything)")
  endif()
  message(STATUS "smtpgw: ${module} ${${target}_VERSION}")
endfunction()

smtpgw_require_pkg(DPDK libdpdk libdpdk-dev)
smtpgw_require_pkg(OPENSSL openssl libssl-dev)
smtpgw_require_pkg(HYPERSCAN libhs libhyperscan-dev)
smtpgw_require_pkg(CLAMAV libclamav libclamav-dev)
smtpgw_require_pkg(JEMALLOC jemalloc libjemalloc-dev)
smtpgw_require_pkg(CPPUTEST cpputest libcpputest-dev)
smtpgw_require_pkg(LIBEDIT libedit libedit-dev)
smtpgw_require_pkg(SYSTEMD libsystemd libsystemd-dev)
smtpgw_require_pkg(SECCOMP libseccomp libseccomp-dev)
