// The health adapter is not in this build yet: configuring checks is a clear error.
#include "adapter/health.hpp"

namespace tender::adapter {
namespace {

class NoChecks final : public HealthChecks {
 public:
  std::size_t size() const override { return 0; }
  void answer(const std::string&, Reply reply) override {
    reply(Response::error(404, "no checks"));
  }
  void start(const SourceContext&) override {}
  void stop() override {}
  boost::json::object status() const override { return {}; }
  boost::json::object config() const override { return {}; }
};

}  // namespace

std::shared_ptr<HealthChecks> HealthChecks::parse(const ConfigNode& health) {
  if (health.defined()) {
    health.fail("", "health checks are not available in this build");
  }
  return std::make_shared<NoChecks>();
}

}  // namespace tender::adapter
