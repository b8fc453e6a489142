// tcp_test_main.cc: the CppUTest main shared by the dataplane/tcp tests.
// CppUTest's new/delete overloads are turned off: the code under test is
// checked by AddressSanitizer in the Sanitize build instead.
#include <CppUTest/CommandLineTestRunner.h>
#include <CppUTest/MemoryLeakWarningPlugin.h>

int main(int argc, char** argv) {
    MemoryLeakWarningPlugin::turnOffNewDeleteOverloads();
    return CommandLineTestRunner::RunAllTests(argc, argv);
}
