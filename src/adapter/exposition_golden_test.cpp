// The exposition of families with hard label values (backslashes, quotes, newlines, UTF-8),
// counters, histograms and summaries, from two sources, against expected files in both formats:
// tests/golden/adapt/CASE.json (the sources' families) -> CASE.prom and CASE.om. The
// integration tests run promtool over the .prom files.
// TENDER_UPDATE_GOLDEN=1 rewrites the expected files (review the diff).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "adapter/exposition.hpp"
#include "core/metrics.hpp"

#ifndef TENDER_ADAPT_GOLDEN_DIR
#error "TENDER_ADAPT_GOLDEN_DIR must name tests/golden/adapt"
#endif

namespace tender::adapter {
namespace {

namespace json = boost::json;

std::string golden(const std::string& file) {
  return std::string(TENDER_ADAPT_GOLDEN_DIR) + "/" + file;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<SourceFamilies> load(const std::string& path) {
  std::vector<SourceFamilies> out;
  const json::value doc = json::parse(slurp(path));
  for (const auto& s : doc.as_array()) {
    SourceFamilies sf;
    sf.source = json::value_to<std::string>(s.at("source"));
    for (const auto& f : s.at("families").as_array()) {
      Family fam;
      fam.name = json::value_to<std::string>(f.at("name"));
      fam.type = *parse_type(json::value_to<std::string>(f.at("type")));
      fam.help = json::value_to<std::string>(f.at("help"));
      for (const auto& smp : f.at("samples").as_array()) {
        Sample sample;
        sample.name = json::value_to<std::string>(smp.at("name"));
        for (const auto& l : smp.at("labels").as_array()) {
          sample.labels.emplace_back(json::value_to<std::string>(l.as_array().at(0)),
                                     json::value_to<std::string>(l.as_array().at(1)));
        }
        sample.value = smp.at("value").to_number<double>();
        fam.samples.push_back(std::move(sample));
      }
      sf.families.push_back(std::move(fam));
    }
    out.push_back(std::move(sf));
  }
  return out;
}

void check(const std::string& name) {
  Exposition e = build_exposition(load(golden(name + ".json")), {}, {});
  Registry registry;
  registry.set_external([&e] { return e.families; });
  for (auto [format, ext] :
       {std::pair{Format::kPrometheus, ".prom"}, std::pair{Format::kOpenMetrics, ".om"}}) {
    std::string got = registry.render(format);
    std::string path = golden(name + ext);
    if (const char* update = std::getenv("TENDER_UPDATE_GOLDEN"); update && *update == '1') {
      std::ofstream(path, std::ios::binary) << got;
      continue;
    }
    EXPECT_EQ(got, slurp(path)) << path;
  }
}

TEST(ExpositionGolden, Escaping) { check("escaping"); }

}  // namespace
}  // namespace tender::adapter
