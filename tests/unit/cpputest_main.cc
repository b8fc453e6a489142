// cpputest_main.cc: the main of every unit test executable.
//
// CppUTest's memory leak detector replaces operator new/delete with versions
// that add guard bytes and bookkeeping; under AddressSanitizer (the Sanitize
// build) that both conflicts with ASan's own allocator and hides overruns of
// exactly-sized buffers. Turning the overloads off makes new/delete plain
// malloc/free, so ASan sees every allocation as the code made it.
#include "CppUTest/CommandLineTestRunner.h"
#include "CppUTest/MemoryLeakWarningPlugin.h"

int main(int argc, char** argv) {
    MemoryLeakWarningPlugin::turnOffNewDeleteOverloads();
    return CommandLineTestRunner::RunAllTests(argc, argv);
}
