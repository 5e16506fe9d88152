// The log adapter is not in this build yet: configuring one is a clear error.
#include "adapter/logs.hpp"

namespace tender::adapter {
namespace {

class NoLogs final : public LogAdapters {
 public:
  std::size_t size() const override { return 0; }
  void start(const SourceContext&) override {}
  void drain() override {}
  bool drained() const override { return true; }
  void stop() override {}
  bool finished() const override { return false; }
  boost::json::object status() const override { return {}; }
  boost::json::object config() const override { return {}; }
};

}  // namespace

std::unique_ptr<LogAdapters> LogAdapters::parse(const ConfigNode& logs) {
  if (logs.defined()) {
    logs.fail("", "log adapters are not available in this build");
  }
  return std::make_unique<NoLogs>();
}

}  // namespace tender::adapter
