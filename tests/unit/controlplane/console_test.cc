// console_test.cc: unit tests of controlplane/console.{h,cc}: paginate(), the
// pure part of the console (pages of rows - 1 lines, the last row being the
// --More-- prompt). The interactive loop needs a terminal and is left to the
// lab tests.
#include <string>
#include <vector>

#include "console.h"

#include "CppUTest/TestHarness.h"

using namespace smtpgw::control;

namespace {

std::string numbered_lines(int n) {
    std::string s;
    for (int i = 1; i <= n; ++i)
        s += "line " + std::to_string(i) + "\n";
    return s;
}

int count_newlines(const std::string& s) {
    int n = 0;
    for (char c : s)
        n += c == '\n';
    return n;
}

std::string concat(const std::vector<std::string>& pages) {
    std::string s;
    for (const auto& p : pages)
        s += p;
    return s;
}

} // namespace

TEST_GROUP(Paginate){};

TEST(Paginate, EmptyTextHasNoPages) {
    UNSIGNED_LONGS_EQUAL(0, paginate("", 24).size());
}

TEST(Paginate, ShortTextIsOnePage) {
    auto pages = paginate("a\nb\nc\n", 24);
    UNSIGNED_LONGS_EQUAL(1, pages.size());
    STRCMP_EQUAL("a\nb\nc\n", pages[0].c_str());
}

TEST(Paginate, AVt100PageHoldsTwentyThreeLines) {
    // 24 rows: 23 lines of output and the prompt.
    auto exactly = paginate(numbered_lines(23), 24);
    UNSIGNED_LONGS_EQUAL(1, exactly.size());
    auto one_more = paginate(numbered_lines(24), 24);
    UNSIGNED_LONGS_EQUAL(2, one_more.size());
    STRCMP_EQUAL(numbered_lines(23).c_str(), one_more[0].c_str());
    STRCMP_EQUAL("line 24\n", one_more[1].c_str());
}

TEST(Paginate, LongTextIsCutIntoFullPagesAndARemainder) {
    auto pages = paginate(numbered_lines(50), 24);
    UNSIGNED_LONGS_EQUAL(3, pages.size());
    UNSIGNED_LONGS_EQUAL(23, count_newlines(pages[0]));
    UNSIGNED_LONGS_EQUAL(23, count_newlines(pages[1]));
    STRCMP_EQUAL("line 47\nline 48\nline 49\nline 50\n", pages[2].c_str());
    STRCMP_CONTAINS("line 24\n", pages[1].c_str());
    CHECK_TRUE(pages[1].starts_with("line 24\n"));
}

TEST(Paginate, TextWithoutAFinalNewlineKeepsItsLastLine) {
    auto pages = paginate("a\nb\nc", 3); // two lines a page
    UNSIGNED_LONGS_EQUAL(2, pages.size());
    STRCMP_EQUAL("a\nb\n", pages[0].c_str());
    STRCMP_EQUAL("c", pages[1].c_str());
}

TEST(Paginate, TinyOrNonsenseTerminalSizesGiveOneLinePages) {
    const int sizes[] = {2, 1, 0, -5};
    for (int rows : sizes) {
        auto pages = paginate("a\nb\nc\n", rows);
        UNSIGNED_LONGS_EQUAL_TEXT(3, pages.size(), std::to_string(rows).c_str());
        STRCMP_EQUAL("b\n", pages[1].c_str());
    }
}

TEST(Paginate, PagesConcatenateBackToTheTextForEverySize) {
    const std::string texts[] = {numbered_lines(100), "no newline at all",
                                 "\n\n\nblank lines\n\n", numbered_lines(7) + "tail"};
    for (const auto& text : texts) {
        for (int rows = -1; rows <= 40; ++rows) {
            auto pages = paginate(text, rows);
            const int per_page = rows > 2 ? rows - 1 : 1;
            const std::string what = "rows " + std::to_string(rows);
            STRCMP_EQUAL_TEXT(text.c_str(), concat(pages).c_str(), what.c_str());
            for (std::size_t i = 0; i + 1 < pages.size(); ++i) {
                UNSIGNED_LONGS_EQUAL_TEXT(per_page, count_newlines(pages[i]), what.c_str());
                CHECK_TEXT(pages[i].back() == '\n', what.c_str());
            }
            for (const auto& p : pages)
                CHECK_TEXT(!p.empty() && count_newlines(p) <= per_page, what.c_str());
        }
    }
}
