// The OS layer (src/runtime/platform.h): the default thread count read from made-up Linux sysfs
// trees (a hybrid laptop, big.LITTLE, SMT desktops, missing fields), and the locale-free decimal
// parser (src/text/decimal.h) that replaces the floating-point std::from_chars.

#include <gtest/gtest.h>

#include <clocale>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "runtime/platform.h"
#include "text/decimal.h"

namespace lfm {
namespace {

namespace fs = std::filesystem;

// A sysfs CPU folder in a fresh temporary directory, written file by file.
class FakeSysfs {
  public:
    FakeSysfs() {
        root_ = fs::temp_directory_path() /
                ("lfm_sysfs_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(root_);
        fs::create_directories(root_);
    }
    ~FakeSysfs() { fs::remove_all(root_); }
    void write(const std::string& relative, const std::string& text) const {
        const fs::path p = root_ / relative;
        fs::create_directories(p.parent_path());
        std::ofstream(p) << text << "\n";
    }
    // One CPU: its core's sibling list, and optional capacity and top frequency (kHz).
    void cpu(int id, const std::string& siblings, int64_t capacity = -1, int64_t max_khz = -1) const {
        const std::string dir = "cpu" + std::to_string(id) + "/";
        write(dir + "topology/thread_siblings_list", siblings);
        if (capacity >= 0) write(dir + "cpu_capacity", std::to_string(capacity));
        if (max_khz >= 0) write(dir + "cpufreq/cpuinfo_max_freq", std::to_string(max_khz));
    }
    ThreadChoice choice() const { return choose_threads_linux(read_linux_cpus(root_.string())); }
    std::string path() const { return root_.string(); }

  private:
    fs::path root_;
};

TEST(DefaultThreads, HybridLaptopTakesThePerformanceCoresOnce) {
    // An Intel hybrid laptop (i7-1260P-like): 4 P cores with SMT (cpu0-7, 4.7 GHz) and 8 E cores
    // (cpu8-15, 3.4 GHz), no cpu_capacity.
    FakeSysfs s;
    s.write("online", "0-15");
    for (int core = 0; core < 4; ++core) {
        const std::string siblings = std::to_string(2 * core) + "-" + std::to_string(2 * core + 1);
        s.cpu(2 * core, siblings, -1, 4700000);
        s.cpu(2 * core + 1, siblings, -1, 4700000);
    }
    for (int cpu = 8; cpu < 16; ++cpu) s.cpu(cpu, std::to_string(cpu), -1, 3400000);
    const ThreadChoice c = s.choice();
    EXPECT_EQ(c.threads, 4);
    EXPECT_NE(c.reason.find("performance cores"), std::string::npos) << c.reason;
    EXPECT_NE(c.reason.find("cpuinfo_max_freq 4700 MHz against at most 3400 MHz on the 8 slower CPUs"),
              std::string::npos)
        << c.reason;
}

TEST(DefaultThreads, CapacityComesBeforeFrequency) {
    // big.LITTLE: 4 little cores first (capacity 446), 4 big ones (1024); the frequencies would
    // say otherwise (a little cluster clocked higher), and capacity wins.
    FakeSysfs s;
    s.write("online", "0-7");
    for (int cpu = 0; cpu < 4; ++cpu) s.cpu(cpu, std::to_string(cpu), 446, 2400000);
    for (int cpu = 4; cpu < 8; ++cpu) s.cpu(cpu, std::to_string(cpu), 1024, 2200000);
    const ThreadChoice c = s.choice();
    EXPECT_EQ(c.threads, 4);
    EXPECT_NE(c.reason.find("cpu_capacity 1024 against at most 446 on the 4 slower CPUs"), std::string::npos)
        << c.reason;
}

TEST(DefaultThreads, CoresOfOneKindThatDifferALittleAreAllFast) {
    // A desktop with preferred cores: 5.7 and 5.5 GHz tops are one kind of core (within 15 %).
    FakeSysfs s;
    s.write("online", "0-3");
    s.cpu(0, "0", -1, 5700000);
    s.cpu(1, "1", -1, 5500000);
    s.cpu(2, "2", -1, 5500000);
    s.cpu(3, "3", -1, 5700000);
    const ThreadChoice c = s.choice();
    EXPECT_EQ(c.threads, 4);
    EXPECT_EQ(c.reason, "one per physical core: 4 physical cores of 4 hardware threads");
}

TEST(DefaultThreads, SmtSiblingsCountOnceWithoutSpeedFields) {
    // This kind of VM: no capacity, no cpufreq; 2 cores with 2 threads each.
    FakeSysfs s;
    s.write("online", "0-3");
    s.cpu(0, "0,2");
    s.cpu(1, "1,3");
    s.cpu(2, "0,2");
    s.cpu(3, "1,3");
    const ThreadChoice c = s.choice();
    EXPECT_EQ(c.threads, 2);
    EXPECT_EQ(c.reason, "one per physical core: 2 physical cores of 4 hardware threads");
}

TEST(DefaultThreads, OfflineCpusAndPartialFieldsAreIgnored) {
    // cpu2 is offline (not in `online`, and its files are gone); cpu_capacity only on some CPUs is
    // not a measure; the frequencies are.
    FakeSysfs s;
    s.write("online", "0-1,3");
    s.cpu(0, "0", 1024, 3000000);
    s.cpu(1, "1", -1, 3000000);
    s.cpu(3, "3", 1024, 1800000);
    const ThreadChoice c = s.choice();
    EXPECT_EQ(c.threads, 2);
    EXPECT_NE(c.reason.find("cpuinfo_max_freq 3000 MHz against at most 1800 MHz on the 1 slower CPUs"),
              std::string::npos)
        << c.reason;
}

TEST(DefaultThreads, WithoutOnlineListTheFoldersCountAndMissingTopologyCountsThreads) {
    FakeSysfs s;
    for (int cpu : {0, 1, 2, 10}) s.write("cpu" + std::to_string(cpu) + "/cpu_capacity", "512");
    s.write("cpufreq/policy0/scaling_governor", "schedutil");  // not a CPU folder
    const std::vector<LinuxCpu> cpus = read_linux_cpus(s.path());
    ASSERT_EQ(cpus.size(), 4u);
    EXPECT_EQ(cpus[3].id, 10);
    const ThreadChoice c = choose_threads_linux(cpus);
    EXPECT_EQ(c.threads, 4);
    EXPECT_EQ(c.reason, "one per physical core: 4 hardware threads; cores unknown");
}

TEST(DefaultThreads, NothingReadableGivesOneThread) {
    FakeSysfs s;
    s.write("online", "garbage");
    EXPECT_TRUE(read_linux_cpus(s.path()).empty());
    EXPECT_TRUE(read_linux_cpus(s.path() + "/missing").empty());
    EXPECT_EQ(choose_threads_linux({}).threads, 1);
}

TEST(Decimal, ParsesNumbersExactly) {
    double d = 0;
    ASSERT_EQ(parse_decimal("2.5", d), DecimalParse::kOk);
    EXPECT_EQ(d, 2.5);
    ASSERT_EQ(parse_decimal("-0.1", d), DecimalParse::kOk);
    EXPECT_EQ(d, -0.1);  // the double nearest to 1/10, as the compiler reads the literal
    ASSERT_EQ(parse_decimal("+1e3", d), DecimalParse::kOk);
    EXPECT_EQ(d, 1000.0);
    ASSERT_EQ(parse_decimal("1.", d), DecimalParse::kOk);
    EXPECT_EQ(d, 1.0);
    ASSERT_EQ(parse_decimal(".5E-1", d), DecimalParse::kOk);
    EXPECT_EQ(d, 0.05);
    ASSERT_EQ(parse_decimal("1.7976931348623157e308", d), DecimalParse::kOk);
    EXPECT_EQ(d, std::numeric_limits<double>::max());
    ASSERT_EQ(parse_decimal("9007199254740993", d), DecimalParse::kOk);  // 2^53 + 1: ties to even
    EXPECT_EQ(d, 9007199254740992.0);
}

TEST(Decimal, RangeAsPython) {
    double d = 1;
    EXPECT_EQ(parse_decimal("1e400", d), DecimalParse::kOutOfRange);
    EXPECT_EQ(parse_decimal("-1e400", d), DecimalParse::kOutOfRange);
    ASSERT_EQ(parse_decimal("1e-400", d), DecimalParse::kOk);  // Python: 0.0
    EXPECT_EQ(d, 0.0);
    ASSERT_EQ(parse_decimal("4.9e-324", d), DecimalParse::kOk);  // the smallest subnormal
    EXPECT_EQ(d, std::numeric_limits<double>::denorm_min());
}

TEST(Decimal, RefusesWhatIsNotWhollyADecimal) {
    double d = 7;
    for (const char* s :
         {"", "-", ".", "e5", "1e", "1e+", "1.5x", " 1", "1 ", "inf", "nan", "0x10", "1_0", "--1", "1..2"})
        EXPECT_EQ(parse_decimal(s, d), DecimalParse::kInvalid) << s;
    EXPECT_EQ(d, 7);
}

bool comma_point() {
    return std::localeconv()->decimal_point == std::string(",");
}

// Sets LC_NUMERIC to a locale whose decimal point is a comma: an installed one (macOS has them),
// else de_DE built into dir with glibc's localedef from Debian's locale sources (package locales).
bool set_comma_locale(const std::string& dir) {
    for (const char* name : {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8"})
        if (std::setlocale(LC_NUMERIC, name) != nullptr && comma_point()) return true;
    if (!fs::exists("/usr/share/i18n/locales/de_DE")) return false;
    const std::string command = "localedef -i de_DE -f UTF-8 '" + dir + "/de_DE.UTF-8' >/dev/null 2>&1";
    [[maybe_unused]] const int status = std::system(command.c_str());  // warnings give 1; the files tell
    ::setenv("LOCPATH", dir.c_str(), 1);
    const bool ok = std::setlocale(LC_NUMERIC, "de_DE.UTF-8") != nullptr && comma_point();
    ::unsetenv("LOCPATH");
    return ok;
}

TEST(Decimal, TheCLocaleDoesNotMatter) {
    // strtod and std::stod read "1.5" as 1 where the decimal point is a comma.
    FakeSysfs scratch;  // a temporary folder, for a locale built here if none is installed
    if (!set_comma_locale(scratch.path())) {
        std::setlocale(LC_NUMERIC, "C");
        GTEST_SKIP()
            << "no locale with a decimal comma, and none could be built (localedef, Debian's locales)";
    }
    const double strtod_reads = std::strtod("1.5", nullptr);
    double d = 0;
    const DecimalParse r = parse_decimal("1.5", d);
    std::setlocale(LC_NUMERIC, "C");
    EXPECT_EQ(strtod_reads, 1.0);  // what the locale does to the C library
    EXPECT_EQ(r, DecimalParse::kOk);
    EXPECT_EQ(d, 1.5);
}

}  // namespace
}  // namespace lfm
