// board_profile_test.cc: unit tests of board/board_profile.{h,cc}: the
// embedded `virtual` board (the lab of shared/lab.md), a real-box profile
// read from the source tree, the EAL arguments built from each, and the
// "FILE:LINE: reason" refusal of every kind of bad line.
#include <fstream>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "board_profile.h"
#include "net/addr.h"

#include "CppUTest/TestHarness.h"

using namespace smtpgw;
using namespace smtpgw::board;

#ifndef SMTPGW_BOARD_SOURCE_DIR
#error "SMTPGW_BOARD_SOURCE_DIR must name the source board/ directory (set by CMake)"
#endif

namespace {

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        FAIL_TEST(("cannot open " + path).c_str());
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// Parses and fails the test with the parser's message on error.
BoardProfile parse_ok(const std::string& text, const char* file) {
    auto r = parse_board_profile(text, file);
    if (auto* e = std::get_if<BoardError>(&r))
        FAIL_TEST(("unexpected error: " + e->message).c_str());
    return std::get<BoardProfile>(r);
}

// The error text, or "(parsed)" when the profile was accepted.
std::string parse_error(const std::string& text, const char* file = "t.conf") {
    auto r = parse_board_profile(text, file);
    if (auto* e = std::get_if<BoardError>(&r))
        return e->message;
    return "(parsed)";
}

std::string joined(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& a : v)
        s += (s.empty() ? "" : " ") + a;
    return s;
}

std::string v4s(net::Ipv4Addr a) {
    return net::to_string(a);
}
std::string v6s(const net::Ipv6Addr& a) {
    return net::to_string(a);
}

// The smallest profile that parses: seven lines, so an appended line is line 8.
const std::string kMinimal = "board.name = t\n"
                             "lcores.main = 0\n"
                             "lcores.workers = 1\n"
                             "port.wan.device = net_af_packet0\n"
                             "port.wan.ipv4 = 203.0.113.1/24\n"
                             "port.lan.device = net_af_packet1\n"
                             "port.lan.ipv4 = 198.51.100.1/24\n";

} // namespace

TEST_GROUP(BoardProfile){};

TEST(BoardProfile, EmbeddedVirtualBoardParses) {
    const char* text = embedded_board_text("virtual");
    CHECK_TRUE(text != nullptr);
    BoardProfile b = parse_ok(text, "virtual");
    STRCMP_EQUAL("virtual", b.name.c_str());
    STRCMP_CONTAINS("af_packet", b.description.c_str());
    STRCMP_EQUAL("--no-huge --no-pci -m 512 --no-shconf --log-level=lib.eal:warning",
                 joined(b.eal_args).c_str());
    UNSIGNED_LONGS_EQUAL(0, b.main_lcore);
    UNSIGNED_LONGS_EQUAL(1, b.worker_lcores.size());
    UNSIGNED_LONGS_EQUAL(1, b.worker_lcores[0]);
    CHECK_TRUE(b.idle_backoff);
    UNSIGNED_LONGS_EQUAL(200, b.idle_sleep_max_us);
    UNSIGNED_LONGS_EQUAL(8191, b.mbufs);
    UNSIGNED_LONGS_EQUAL(1024, b.neighbor_cache_size);
    UNSIGNED_LONGS_EQUAL(300, b.neighbor_max_age_s);
    STRCMP_EQUAL("/run/smtpgw/control.sock", b.control_socket.c_str());
    UNSIGNED_LONGS_EQUAL(2, b.ports.size());
    // The lab board runs the TCP lab services and allows fault injection.
    CHECK_TRUE(b.fault_injection);
    CHECK_TRUE(b.tcp.lab_services);
    UNSIGNED_LONGS_EQUAL(10025, b.tcp.relay_port);
    STRCMP_EQUAL("198.51.100.25", smtpgw::net::to_string(*b.tcp.relay_target4).c_str());
    STRCMP_EQUAL("2001:db8:2::25", smtpgw::net::to_string(*b.tcp.relay_target6).c_str());
}

TEST(BoardProfile, EmbeddedVirtualBoardMatchesTheLabAddresses) {
    BoardProfile b = parse_ok(embedded_board_text("virtual"), "virtual");
    const PortProfile* wan = b.port("wan");
    const PortProfile* lan = b.port("lan");
    CHECK_TRUE(wan != nullptr);
    CHECK_TRUE(lan != nullptr);
    // WAN: gw-wan through net_af_packet0, 203.0.113.1/24 and 2001:db8:1::1/64,
    // default routes via the upstream router .254.
    STRCMP_EQUAL("net_af_packet0", wan->device.c_str());
    STRCMP_EQUAL("iface=gw-wan,qpairs=1", wan->devargs.c_str());
    CHECK_TRUE(wan->is_virtual_device());
    STRCMP_EQUAL("203.0.113.1/24", net::to_string(wan->ipv4).c_str());
    CHECK_TRUE(wan->ipv6.has_value());
    STRCMP_EQUAL("2001:db8:1::1/64", net::to_string(*wan->ipv6).c_str());
    CHECK_TRUE(wan->gateway4.has_value());
    STRCMP_EQUAL("203.0.113.254", v4s(*wan->gateway4).c_str());
    CHECK_TRUE(wan->gateway6.has_value());
    STRCMP_EQUAL("2001:db8:1::254", v6s(*wan->gateway6).c_str());
    UNSIGNED_LONGS_EQUAL(1500, wan->mtu);
    CHECK_TRUE(wan->ipv4.contains(*net::parse_ipv4("203.0.113.10"))); // the default client
    // LAN: gw-lan through net_af_packet1, 198.51.100.1/24 and 2001:db8:2::1/64,
    // with the LAN mail server 198.51.100.25 / 2001:db8:2::25 on link.
    STRCMP_EQUAL("net_af_packet1", lan->device.c_str());
    STRCMP_EQUAL("iface=gw-lan,qpairs=1", lan->devargs.c_str());
    STRCMP_EQUAL("198.51.100.1/24", net::to_string(lan->ipv4).c_str());
    CHECK_TRUE(lan->ipv6.has_value());
    STRCMP_EQUAL("2001:db8:2::1/64", net::to_string(*lan->ipv6).c_str());
    CHECK_FALSE(lan->gateway4.has_value());
    CHECK_FALSE(lan->gateway6.has_value());
    CHECK_TRUE(lan->ipv4.contains(*net::parse_ipv4("198.51.100.25")));
    CHECK_TRUE(lan->ipv6->contains(*net::parse_ipv6("2001:db8:2::25")));
    CHECK_TRUE(b.port("dmz") == nullptr);
    // Mail: mx.example.com relays for example.com only, to the LAN server.
    STRCMP_EQUAL("mx.example.com", b.smtp.hostname.c_str());
    CHECK_EQUAL(1u, b.smtp.relay_domains.size());
    STRCMP_EQUAL("example.com", b.smtp.relay_domains[0].c_str());
    STRCMP_EQUAL("198.51.100.25", v4s(*b.smtp.lan_server4).c_str());
    STRCMP_EQUAL("2001:db8:2::25", v6s(*b.smtp.lan_server6).c_str());
    UNSIGNED_LONGS_EQUAL(25, b.smtp.port);
}

TEST(BoardProfile, OnlyTheVirtualBoardIsEmbedded) {
    CHECK_TRUE(embedded_board_text("x710-2port") == nullptr);
    CHECK_TRUE(embedded_board_text("") == nullptr);
    CHECK_TRUE(embedded_board_text("Virtual") == nullptr);
}

TEST(BoardProfile, EalArgumentsBringUpTheVirtualBoardOnAfPacket) {
    BoardProfile b = parse_ok(embedded_board_text("virtual"), "virtual");
    const std::vector<std::string> want = {
        "-l",
        "0,1",
        "--main-lcore=0",
        "--file-prefix=smtpgw-lab",
        "--vdev=net_af_packet0,iface=gw-wan,qpairs=1",
        "--vdev=net_af_packet1,iface=gw-lan,qpairs=1",
        "--no-huge",
        "--no-pci",
        "-m",
        "512",
        "--no-shconf",
        "--log-level=lib.eal:warning",
    };
    STRCMP_EQUAL(joined(want).c_str(), joined(eal_arguments(b, "smtpgw-lab")).c_str());
    UNSIGNED_LONGS_EQUAL(want.size(), eal_arguments(b, "smtpgw-lab").size());
}

TEST(BoardProfile, RealBoxProfileParsesFromItsFile) {
    const std::string path = SMTPGW_BOARD_SOURCE_DIR "/x710-2port/board.conf";
    BoardProfile b = parse_ok(read_file(path), path.c_str());
    STRCMP_EQUAL("x710-2port", b.name.c_str());
    UNSIGNED_LONGS_EQUAL(1, b.main_lcore);
    UNSIGNED_LONGS_EQUAL(2, b.worker_lcores.size());
    UNSIGNED_LONGS_EQUAL(2, b.worker_lcores[0]);
    UNSIGNED_LONGS_EQUAL(3, b.worker_lcores[1]);
    CHECK_FALSE(b.idle_backoff);
    UNSIGNED_LONGS_EQUAL(200, b.idle_sleep_max_us); // not set: the default
    UNSIGNED_LONGS_EQUAL(262143, b.mbufs);
    UNSIGNED_LONGS_EQUAL(4096, b.neighbor_cache_size);
    const PortProfile* wan = b.port("wan");
    const PortProfile* lan = b.port("lan");
    CHECK_TRUE(wan != nullptr && lan != nullptr);
    STRCMP_EQUAL("0000:03:00.0", wan->device.c_str());
    STRCMP_EQUAL("", wan->devargs.c_str());
    CHECK_FALSE(wan->is_virtual_device());
    STRCMP_EQUAL("0000:03:00.1", lan->device.c_str());
    STRCMP_EQUAL("203.0.113.254", v4s(*wan->gateway4).c_str());
}

TEST(BoardProfile, RealBoxEalArgumentsAllowItsPciDevices) {
    const std::string path = SMTPGW_BOARD_SOURCE_DIR "/x710-2port/board.conf";
    BoardProfile b = parse_ok(read_file(path), path.c_str());
    const std::vector<std::string> want = {
        "-l",
        "1,2,3",
        "--main-lcore=1",
        "--file-prefix=smtpgw",
        "--allow=0000:03:00.0",
        "--allow=0000:03:00.1",
        "--huge-dir=/dev/hugepages",
        "-n",
        "4",
        "--log-level=lib.eal:notice",
    };
    STRCMP_EQUAL(joined(want).c_str(), joined(eal_arguments(b, "smtpgw")).c_str());
}

TEST(BoardProfile, DevargsAreAppendedToPciDevicesToo) {
    BoardProfile b = parse_ok(kMinimal + "port.wan.device = 0000:03:00.0\n"
                                         "port.wan.devargs = rx_low_latency=1\n",
                              "t.conf");
    auto args = eal_arguments(b, "p");
    STRCMP_EQUAL("-l 0,1 --main-lcore=0 --file-prefix=p --allow=0000:03:00.0,rx_low_latency=1 "
                 "--vdev=net_af_packet1",
                 joined(args).c_str());
}

TEST(BoardProfile, CpuMapRunsMoreLcoresThanCoresThroughEalLcores) {
    BoardProfile b = parse_ok(kMinimal + "lcores.workers = 1,2\nlcores.cpu_map = 2@1\n", "t.conf");
    auto args = eal_arguments(b, "p");
    STRCMP_EQUAL("--lcores=0@0,1@1,2@1", args.at(0).c_str());
    STRCMP_EQUAL("--main-lcore=0", args.at(1).c_str());
    // Without a map the plain -l form stays.
    auto plain = eal_arguments(parse_ok(kMinimal, "t.conf"), "p");
    STRCMP_EQUAL("-l", plain.at(0).c_str());
    STRCMP_EQUAL("0,1", plain.at(1).c_str());
}

TEST(BoardProfile, MinimalProfileGetsTheDocumentedDefaults) {
    BoardProfile b = parse_ok(kMinimal, "t.conf");
    CHECK_FALSE(b.idle_backoff);
    UNSIGNED_LONGS_EQUAL(200, b.idle_sleep_max_us);
    UNSIGNED_LONGS_EQUAL(8191, b.mbufs);
    UNSIGNED_LONGS_EQUAL(1024, b.neighbor_cache_size);
    UNSIGNED_LONGS_EQUAL(300, b.neighbor_max_age_s);
    STRCMP_EQUAL("/run/smtpgw/control.sock", b.control_socket.c_str());
    UNSIGNED_LONGS_EQUAL(1500, b.port("wan")->mtu);
    CHECK_FALSE(b.port("wan")->ipv6.has_value());
    CHECK_TRUE(b.eal_args.empty());
    // Appliance defaults: no lab services, no fault injection.
    CHECK_FALSE(b.fault_injection);
    CHECK_FALSE(b.tcp.lab_services);
    UNSIGNED_LONGS_EQUAL(0, b.tcp.relay_port);
    UNSIGNED_LONGS_EQUAL(16384, b.tcp.max_connections);
    UNSIGNED_LONGS_EQUAL(256, b.tcp.syn_backlog_high);
    UNSIGNED_LONGS_EQUAL(128, b.tcp.syn_backlog_low);
    UNSIGNED_LONGS_EQUAL(4096, b.tcp.time_wait_max);
    STRCMP_EQUAL("/var/lib/smtpgw/peer-filter.dynamic", b.peer_filter_state_file.c_str());
    CHECK_TRUE(b.peer_filter_action == smtpgw::filter::ListedAction::drop);
    UNSIGNED_LONGS_EQUAL(10, b.peer_limits.rate_per_second);
    // SMTP: on, but no LAN server and no relay domain until the board says.
    CHECK_TRUE(b.smtp.enabled);
    CHECK_FALSE(b.smtp.lan_server4.has_value());
    CHECK_TRUE(b.smtp.relay_domains.empty());
}

TEST(BoardProfile, PeerFilterKeysSetTheLimitsAndRefuseOutOfRangeValues) {
    BoardProfile b =
        parse_ok(kMinimal + "peer_filter.rate_per_second = 50\npeer_filter.burst = 100\n"
                            "peer_filter.v4_prefix_len = 24\npeer_filter.action = rst\n"
                            "peer_filter.state_file = none\n",
                 "t.conf");
    UNSIGNED_LONGS_EQUAL(50, b.peer_limits.rate_per_second);
    UNSIGNED_LONGS_EQUAL(100, b.peer_limits.burst);
    UNSIGNED_LONGS_EQUAL(24, b.peer_limits.v4_prefix_len);
    CHECK_TRUE(b.peer_filter_action == smtpgw::filter::ListedAction::reset);
    CHECK_TRUE(b.peer_filter_state_file.empty());
    // The limits module names the problem.
    std::string err = parse_error(kMinimal + "peer_filter.v4_prefix_len = 8\n");
    STRCMP_CONTAINS("t.conf:8: peer_filter.v4_prefix_len: ", err.c_str());
}

TEST(BoardProfile, SmtpKeysSetTheEngineAndRefuseBadValues) {
    BoardProfile b = parse_ok(kMinimal + "smtp.hostname = mx.example.com\n"
                                         "smtp.relay_domains = example.com, example.net\n"
                                         "smtp.lan_server4 = 198.51.100.25\n"
                                         "smtp.max_message_bytes = 2048000\n"
                                         "smtp.bare_newline = normalize\nsmtp.log_file = none\n",
                              "t.conf");
    STRCMP_EQUAL("mx.example.com", b.smtp.hostname.c_str());
    CHECK_EQUAL(2u, b.smtp.relay_domains.size());
    STRCMP_EQUAL("example.net", b.smtp.relay_domains[1].c_str());
    CHECK_TRUE(b.smtp.lan_server4.has_value());
    UNSIGNED_LONGS_EQUAL(2048000, b.smtp.max_message_bytes);
    CHECK_TRUE(b.smtp.bare_newline_normalize);
    CHECK_TRUE(b.smtp.log_file.empty());
    struct Case {
        const char* line;
        const char* reason;
    };
    const Case cases[] = {
        {"smtp.relay_domains = example.com,,x\n", "smtp.relay_domains must be domain names"},
        {"smtp.relay_domains = user@example.com\n", "smtp.relay_domains must be domain names"},
        {"smtp.max_recipients = 50\n", "RFC 5321 4.5.3.1.8"},
        {"smtp.bare_newline = keep\n", "reject or normalize"},
        {"smtp.lan_server4 = lan\n", "IPv4 address"},
        {"smtp.hostname = two words\n", "one word"},
        {"smtp.colour = blue\n", "unknown key 'smtp.colour'"},
    };
    for (const auto& c : cases)
        STRCMP_CONTAINS(c.reason, parse_error(kMinimal + c.line).c_str());
}

TEST(BoardProfile, CommentsBlankLinesCrLfAndBlanksAroundTokensAreAccepted) {
    const std::string text = "# a comment line\r\n"
                             "\r\n"
                             "   board.name   =   spaced   # trailing comment\r\n"
                             "\tlcores.main=0\r\n"
                             "lcores.workers = 1 , 2\r\n"
                             "port.wan.device = net_af_packet0\r\n"
                             "port.wan.ipv4 = 203.0.113.1/24\r\n"
                             "port.lan.device = net_af_packet1\r\n"
                             "port.lan.ipv4 = 198.51.100.1/24"; // no final newline
    BoardProfile b = parse_ok(text, "t.conf");
    STRCMP_EQUAL("spaced", b.name.c_str());
    UNSIGNED_LONGS_EQUAL(2, b.worker_lcores.size());
    UNSIGNED_LONGS_EQUAL(2, b.worker_lcores[1]);
}

TEST(BoardProfile, LineNumbersCountCommentsAndBlankLines) {
    const std::string text = "# 1\n\n# 3\nboard.name = t\n\nbogus = 1\n";
    STRCMP_EQUAL("my.conf:6: unknown key 'bogus'", parse_error(text, "my.conf").c_str());
}

TEST(BoardProfile, BadLinesAreRefusedWithFileLineAndReason) {
    struct Case {
        const char* line;
        const char* reason;
    } cases[] = {
        {"frobnicate = 1", "unknown key 'frobnicate'"},
        {"board.nam = x", "unknown key 'board.nam'"},
        {"board.name", "expected 'key = value'"},
        {"board.name =", "expected 'key = value'"},
        {"= value", "expected 'key = value'"},
        {"lcores.main = x", "lcores.main must be a core number"},
        {"lcores.main = 1024", "lcores.main must be a core number"},
        {"lcores.main = -1", "lcores.main must be a core number"},
        {"lcores.main = 1 2", "lcores.main must be a core number"},
        {"lcores.workers = 1,a", "lcores.workers must be a comma-separated list of core numbers"},
        {"lcores.workers = 1;2", "lcores.workers must be a comma-separated list of core numbers"},
        {"lcores.workers = 2048", "lcores.workers must be a comma-separated list of core numbers"},
        {"lcores.workers = 1,2,1", "lcores.workers lists core 1 twice"},
        {"fastpath.idle_backoff = yes", "fastpath.idle_backoff must be on or off"},
        {"fastpath.idle_sleep_max_us = 100001", "fastpath.idle_sleep_max_us must be 0..100000"},
        {"memory.mbufs = 1023", "memory.mbufs must be 1024..16777216"},
        {"memory.mbufs = 16777217", "memory.mbufs must be 1024..16777216"},
        {"memory.mbufs = 99999999999999999999999", "memory.mbufs must be 1024..16777216"},
        {"neighbor.cache_size = 7", "neighbor.cache_size must be 8..1048576"},
        {"neighbor.cache_size = 1048577", "neighbor.cache_size must be 8..1048576"},
        {"neighbor.max_age_s = 0", "neighbor.max_age_s must be 1..86400"},
        {"neighbor.max_age_s = 86401", "neighbor.max_age_s must be 1..86400"},
        {"control.socket = run/control.sock", "control.socket must be an absolute path"},
        {"port.wan = x", "port keys are port.ROLE.FIELD"},
        {"port.dmz.device = net_null0", "port role must be wan or lan"},
        {"port.WAN.device = net_null0", "port role must be wan or lan"},
        {"port.wan.speed = 10G", "unknown port field 'speed'"},
        {"port.wan.ipv4 = 203.0.113.1", "ipv4 must be ADDRESS/LEN with LEN 1..30"},
        {"port.wan.ipv4 = 203.0.113.1/33", "ipv4 must be ADDRESS/LEN with LEN 1..30"},
        {"port.wan.ipv4 = 203.0.113.1/31", "ipv4 must be ADDRESS/LEN with LEN 1..30"},
        {"port.wan.ipv4 = 203.0.113.1/0", "ipv4 must be ADDRESS/LEN with LEN 1..30"},
        {"port.wan.ipv4 = 203.0.113/24", "ipv4 must be ADDRESS/LEN with LEN 1..30"},
        {"port.wan.ipv6 = 2001:db8:1::1", "ipv6 must be a unicast ADDRESS/LEN with LEN 1..126"},
        {"port.wan.ipv6 = 2001:db8:1::1/127", "ipv6 must be a unicast ADDRESS/LEN with LEN 1..126"},
        {"port.wan.ipv6 = ff02::1/64", "ipv6 must be a unicast ADDRESS/LEN with LEN 1..126"},
        {"port.wan.ipv6 = 203.0.113.1/24", "ipv6 must be a unicast ADDRESS/LEN with LEN 1..126"},
        {"port.wan.gateway4 = 203.0.113", "gateway4 must be an IPv4 address"},
        {"port.wan.gateway4 = 203.0.113.254/24", "gateway4 must be an IPv4 address"},
        {"port.wan.gateway6 = 2001:db8:1::g", "gateway6 must be an IPv6 address"},
        {"port.wan.mtu = 1279", "mtu must be 1280..9000"},
        {"port.wan.mtu = 9001", "mtu must be 1280..9000"},
        {"port.wan.mtu = 65536", "mtu must be 1280..9000"},
        {"port.wan.mtu = jumbo", "mtu must be 1280..9000"},
        {"fastpath.fault_injection = 1", "fastpath.fault_injection must be on or off"},
        {"lcores.cpu_map = 2", "lcores.cpu_map must be a comma-separated list of LCORE@CPU"},
        {"lcores.cpu_map = 2@x", "lcores.cpu_map must be a comma-separated list of LCORE@CPU"},
        {"tcp.max_connections = 15", "tcp.max_connections must be 16..16777216"},
        {"tcp.syn_backlog_high = 0", "tcp.syn_backlog_high must be 1..16777216"},
        {"tcp.syn_backlog_low = x", "tcp.syn_backlog_low must be 0..16777216"},
        {"tcp.time_wait_max = -1", "tcp.time_wait_max must be 0..16777216"},
        {"tcp.lab_services = yes", "tcp.lab_services must be on or off"},
        {"tcp.relay_port = 0", "tcp.relay_port must be 1..65535"},
        {"tcp.relay_port = 65536", "tcp.relay_port must be 1..65535"},
        {"tcp.relay_target4 = 198.51.100", "tcp.relay_target4 must be an IPv4 address"},
        {"tcp.relay_target6 = 2001:db8::g", "tcp.relay_target6 must be an IPv6 address"},
        {"tcp.window = 5", "unknown key 'tcp.window'"},
        {"peer_filter.state_file = var/x",
         "peer_filter.state_file must be an absolute path or none"},
        {"peer_filter.max_entries = 0", "peer_filter.max_entries must be 1..16000000"},
        {"peer_filter.action = reject", "peer_filter.action must be drop or rst"},
        {"peer_filter.rate_per_second = x", "peer_filter.rate_per_second must be a number"},
        {"peer_filter.colour = red", "unknown key 'peer_filter.colour'"},
    };
    for (const auto& c : cases) {
        const std::string want = std::string("t.conf:8: ") + c.reason;
        STRCMP_EQUAL_TEXT(want.c_str(), parse_error(kMinimal + c.line + "\n").c_str(), c.line);
    }
}

TEST(BoardProfile, IncompleteOrInconsistentProfilesAreRefusedWithFileAndReason) {
    // Whole-profile checks run after the last line: the message names the
    // file only, since no single line is at fault.
    auto without = [](const std::string& line) {
        std::string t = kMinimal;
        t.erase(t.find(line), line.size() + 1);
        return t;
    };
    struct Case {
        const char* name;
        std::string text;
        const char* reason;
    } cases[] = {
        {"no board.name", without("board.name = t"), "board.name is missing"},
        {"no lcores.workers", without("lcores.workers = 1"), "lcores.workers is missing"},
        {"workers include the main lcore", kMinimal + "lcores.workers = 1,0\n",
         "a worker lcore cannot be the main lcore"},
        {"main lcore moved onto a worker", kMinimal + "lcores.main = 1\n",
         "a worker lcore cannot be the main lcore"},
        {"no port.lan", kMinimal.substr(0, kMinimal.find("port.lan.")), "port.lan is missing"},
        {"no port.wan.device", without("port.wan.device = net_af_packet0"),
         "port.wan.device is missing"},
        {"no port.lan.ipv4", without("port.lan.ipv4 = 198.51.100.1/24"),
         "port.lan.ipv4 is missing"},
        {"gateway4 off the subnet", kMinimal + "port.wan.gateway4 = 203.0.114.254\n",
         "port.wan.gateway4 is not on the port's subnet"},
        {"gateway6 without an ipv6 prefix", kMinimal + "port.lan.gateway6 = 2001:db8:2::254\n",
         "port.lan.gateway6 is not on the port's subnet"},
        {"gateway6 off the subnet",
         kMinimal + "port.wan.ipv6 = 2001:db8:1::1/64\nport.wan.gateway6 = 2001:db8:9::1\n",
         "port.wan.gateway6 is not on the port's subnet"},
        {"syn backlog low not below high",
         kMinimal + "tcp.syn_backlog_high = 100\ntcp.syn_backlog_low = 100\n",
         "tcp.syn_backlog_low must be below tcp.syn_backlog_high"},
        {"syn backlog above the table",
         kMinimal +
             "tcp.max_connections = 100\ntcp.syn_backlog_high = 101\ntcp.syn_backlog_low = 50\n",
         "tcp.syn_backlog_high must not exceed tcp.max_connections"},
        {"relay without a target", kMinimal + "tcp.lab_services = on\ntcp.relay_port = 10025\n",
         "tcp.relay_port needs tcp.relay_target4"},
        {"relay without lab services",
         kMinimal + "tcp.relay_port = 10025\ntcp.relay_target4 = 198.51.100.25\n",
         "tcp.relay_port needs tcp.lab_services = on"},
        {"empty file", "", "board.name is missing"},
        {"only comments", "# nothing\n\n", "board.name is missing"},
    };
    for (const auto& c : cases) {
        const std::string want = std::string("t.conf: ") + c.reason;
        STRCMP_EQUAL_TEXT(want.c_str(), parse_error(c.text).c_str(), c.name);
    }
}

TEST(BoardProfile, LinkLocalGateway6NeedsNoPrefix) {
    BoardProfile b = parse_ok(kMinimal + "port.wan.gateway6 = fe80::1\n", "t.conf");
    STRCMP_EQUAL("fe80::1", v6s(*b.port("wan")->gateway6).c_str());
}

TEST(BoardProfile, TheFirstBadLineStopsTheParse) {
    STRCMP_EQUAL("t.conf:8: unknown key 'a'",
                 parse_error(kMinimal + "a = 1\nb = 2\nport.wan.mtu = 1\n").c_str());
}

// --- run-time settings (`set KEY VALUE`) ---

TEST(BoardProfile, EverySettingRoundTripsThroughItsOwnValue) {
    BoardProfile b = parse_ok(embedded_board_text("virtual"), "virtual");
    for (const auto& key : setting_keys()) {
        std::string v = setting_value(b, key);
        if (v.empty()) // unset optional address: nothing to write back
            continue;
        BoardProfile copy = b;
        STRCMP_EQUAL_TEXT("", apply_setting(copy, key, v).c_str(), key.c_str());
        STRCMP_EQUAL_TEXT(v.c_str(), setting_value(copy, key).c_str(), key.c_str());
    }
}

TEST(BoardProfile, SettingsTakeGoodValuesAndRefuseBadOnesUnchanged) {
    struct Case {
        const char* key;
        const char* value;
        const char* error; // "" : accepted
    };
    const Case cases[] = {
        {"smtp.max_recipients", "500", ""},
        {"smtp.max_recipients", "99", "100..100000"},
        {"smtp.max_recipients", "many", "100..100000"},
        {"smtp.relay_domains", "example.com,example.net", ""},
        {"smtp.relay_domains", "example.com,,example.net", "separated by commas"},
        {"smtp.hostname", "mx 2", "one word"},
        {"smtp.bare_newline", "normalize", ""},
        {"smtp.bare_newline", "maybe", "reject or normalize"},
        {"smtp.lan_server4", "198.51.100.26", ""},
        {"smtp.lan_server4", "2001:db8::1", "IPv4"},
        {"tcp.idle_timeout_s", "0", ""},
        {"tcp.idle_timeout_s", "86401", "0..86400"},
        {"tcp.syn_backlog_low", "300", "below tcp.syn_backlog_high"}, // across keys
        {"peer_filter.action", "rst", ""},
        {"peer_filter.action", "reject", "drop or rst"},
        {"peer_filter.v4_prefix_len", "33", "peer_filter.v4_prefix_len"},
        {"smtp.log_file", "relative.log", "absolute"},
        {"smtp.hostname", "  ", "needs a value"},
        {"tls.certificates", "/etc/a.crt:/etc/a.key,/etc/b.crt:/etc/b.key", ""},
        {"tls.certificates", "none", ""},
        {"tls.certificates", "a.crt:a.key", "absolute paths"},
        {"tls.certificates", "/etc/a.crt", "CERT:KEY"},
        {"tls.min_version", "1.3", ""},
        {"tls.min_version", "1.1", "1.2 or 1.3"},
        {"scan.enabled", "off", ""},
        {"scan.enabled", "maybe", "on or off"},
        {"scan.rules_file", "rules.txt", "absolute path or none"},
        {"scan.rules_file", "none", ""},
        {"scan.on_mime_limit", "tempfail", ""},
        {"scan.on_mime_limit", "drop", "reject, tempfail, tag or accept"},
        {"scan.on_error", "reject", ""},
        {"scan.score_threshold", "100001", "0..100000"},
        {"scan.max_depth", "0", "1..100"},
        {"scan.av_threads", "65", "1..64"},
        {"scan.av_max_recursion", "65", "1..64"},
        {"scan.av_max_scan_s", "0", "1..3600"},
        {"scan.virus_auto_list_s", "3600", ""},
        {"smtp.outbound_port", "10587", ""},
        {"smtp.outbound_port", "70000", "0..65535"},
        {"smtp.outbound_relay4", "203.0.113.254", ""},
        {"smtp.outbound_relay4", "smarthost", "IPv4 address or none"},
        {"smtp.outbound_networks", "198.51.100.0/24,2001:db8:2::/64", ""},
        {"smtp.outbound_networks", "198.51.100.0/33", "not an IPv4 or IPv6 prefix"},
        {"tls.required", "yes", "on or off"},
        {"tls.required_networks", "198.51.100.0/24,2001:db8::/32", ""},
        {"tls.required_networks", "198.51.100.0/24,mail.example.com", "prefixes"},
        {"tls.lan", "sometimes", "never, opportunistic or required"},
        {"tls.ticket_rotate_s", "10", "60..604800"},
        {"smtp.idle_timeout_s", "0", "1..3600"},
        {"smtp.idle_timeout_s", "30", ""},
        // The hardware belongs to the board file.
        {"board.name", "other", "unknown setting"},
        {"port.wan.ipv4", "203.0.113.2/24", "unknown setting"},
        {"eal.args", "--no-pci", "unknown setting"},
        {"control.socket", "/tmp/x", "unknown setting"},
        {"lcores.workers", "1,2", "unknown setting"},
        {"nosuch.key", "1", "unknown setting"},
    };
    const BoardProfile base = parse_ok(embedded_board_text("virtual"), "virtual");
    for (const auto& c : cases) {
        BoardProfile b = base;
        std::string before = setting_value(b, c.key);
        std::string err = apply_setting(b, c.key, c.value);
        std::string label = std::string(c.key) + " " + c.value + " -> " + err;
        if (*c.error == '\0') {
            STRCMP_EQUAL_TEXT("", err.c_str(), label.c_str());
            STRCMP_EQUAL_TEXT(c.value, setting_value(b, c.key).c_str(), label.c_str());
        } else {
            CHECK_TEXT(err.find(c.error) != std::string::npos, label.c_str());
            STRCMP_EQUAL_TEXT(before.c_str(), setting_value(b, c.key).c_str(), label.c_str());
        }
    }
}
