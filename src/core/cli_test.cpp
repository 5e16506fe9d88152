#include "core/cli.hpp"

#include <gtest/gtest.h>

#include <functional>

namespace tender {
namespace {

ConfigNode yaml(const std::string& text) { return parse_config(text, "role.yaml"); }

template <class E>
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "no error";
}

TEST(Settings, AFlagBeatsTheFileWhichBeatsTheDefault) {
  ConfigNode file = yaml("period: 5s\nname: from-file\n");
  bool from_flag = true;
  EXPECT_EQ(pick_setting("", file, "name", from_flag), "from-file");
  EXPECT_FALSE(from_flag);
  EXPECT_EQ(pick_setting("flag", file, "name", from_flag), "flag");
  EXPECT_TRUE(from_flag);
  EXPECT_EQ(pick_duration_setting("", file, "period", std::chrono::seconds(1), from_flag),
            std::chrono::seconds(5));
  EXPECT_EQ(pick_duration_setting("250ms", file, "period", std::chrono::seconds(1), from_flag),
            std::chrono::milliseconds(250));
  EXPECT_EQ(pick_duration_setting("", yaml("{}"), "period", std::chrono::seconds(1), from_flag),
            std::chrono::seconds(1));
}

TEST(Settings, AMistakeIsReportedWhereItWasMade) {
  ConfigNode file = yaml("a: 1\nexec_grace: 2h\n");
  EXPECT_EQ(error_of<UsageError>([&] {
              SettingSource{file, true}.fail("exec_grace", "too long");
            }),
            "--exec-grace: too long");
  EXPECT_NE(error_of<ConfigError>([&] {
              SettingSource{file, false}.fail("exec_grace", "too long");
            }).find("role.yaml:2"),
            std::string::npos);
  bool from_flag = false;
  EXPECT_EQ(error_of<UsageError>([&] {
              (void)pick_duration_setting("soon", file, "exec_grace", {}, from_flag);
            }).rfind("--exec-grace: not a duration", 0),
            0U);
}

TEST(Settings, ExecTakesTheCommandAfterTheFlagOrFromTheFile) {
  ConfigNode file = yaml("exec: [nginx, -s, reload]\n");
  EXPECT_EQ(resolve_exec_command(true, {"a", "b"}, file, "sync"),
            (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(resolve_exec_command(false, {}, file, "sync"),
            (std::vector<std::string>{"nginx", "-s", "reload"}));
  EXPECT_TRUE(resolve_exec_command(false, {}, yaml("{}"), "sync").empty());
  EXPECT_NE(error_of<UsageError>([&] {
              (void)resolve_exec_command(true, {}, file, "sync");
            }).find("tender sync ... --exec -- CMD ARGS"),
            std::string::npos);
  EXPECT_NE(error_of<UsageError>([&] {
              (void)resolve_exec_command(false, {"x"}, file, "sync");
            }).find("without --exec"),
            std::string::npos);
  EXPECT_NE(error_of<ConfigError>([&] {
              (void)resolve_exec_command(false, {}, yaml("exec: []\n"), "sync");
            }).find("exec"),
            std::string::npos);
}

}  // namespace
}  // namespace tender
