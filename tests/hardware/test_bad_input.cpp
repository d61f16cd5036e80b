// Bad hardware files: each error names the file, the line and the key, with a hint.
#include <gtest/gtest.h>

#include "core/diagnostic.hpp"
#include "hardware/catalog.hpp"
#include "support/test_support.hpp"

namespace tf::hardware {
namespace {

const char* kGood = R"(id: good
name: Good chip
vendor: Test
family: test
status: shipping
references:
  ds: "test datasheet"
chip:
  memory:
    - tier: hbm
      capacity: {value: "80 GB", source: ds}
      bandwidth: {value: "3 TB/s", source: ds}
  compute:
    bf16: {value: "1000 TFLOP/s", source: ds}
  power: {value: "700 W", source: ds}
scale_up:
  domain_chips: {value: 8, source: ds}
  bandwidth: {value: "900 GB/s", direction: bidirectional, source: ds}
)";

Diagnostic load_error(const std::string& id, const std::string& text) {
  test::TempDir dir;
  dir.write("hw/x/" + id + ".yaml", text);
  try {
    Catalog::load(dir.path() / "hw");
  } catch (const DiagnosticError& e) {
    return e.diagnostic();
  }
  ADD_FAILURE() << "no error";
  return {};
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  const auto p = s.find(from);
  EXPECT_NE(p, std::string::npos) << from;
  return s.replace(p, from.size(), to);
}

TEST(HardwareBadInput, GoodFileLoadsAndHalvesBidirectionalBandwidth) {
  test::TempDir dir;
  dir.write("hw/x/good.yaml", kGood);
  const auto c = Catalog::load(dir.path() / "hw");
  EXPECT_DOUBLE_EQ(c.get("good").scale_up.bandwidth_bytes_per_s->value, 450e9);
  EXPECT_EQ(c.get("good").main_memory().capacity_bytes.source, "test datasheet");
}

TEST(HardwareBadInput, UnknownKeyNamesKeyLineAndValidKeys) {
  const auto d = load_error("good", replace(kGood, "  power:", "  powr:"));
  EXPECT_NE(d.file.find("good.yaml"), std::string::npos);
  EXPECT_EQ(d.line, 15);  // "  powr:" is line 15 of kGood
  EXPECT_EQ(d.key, "chip.powr");
  EXPECT_NE(d.hint.find("did you mean 'power'"), std::string::npos) << d.hint;
}

TEST(HardwareBadInput, UnitlessQuantity) {
  const auto d = load_error("good", replace(kGood, "\"80 GB\"", "80"));
  EXPECT_EQ(d.key, "chip.memory[0].capacity.value");
  EXPECT_NE(d.message.find("has no unit"), std::string::npos);
  EXPECT_EQ(d.line, 11);
}

TEST(HardwareBadInput, NegativeQuantity) {
  const auto d = load_error("good", replace(kGood, "\"700 W\"", "\"-700 W\""));
  EXPECT_NE(d.message.find("negative"), std::string::npos);
}

TEST(HardwareBadInput, WrongDimension) {
  const auto d = load_error("good", replace(kGood, "\"3 TB/s\"", "\"3 TB\""));
  EXPECT_NE(d.message.find("expected bytes per second"), std::string::npos);
}

TEST(HardwareBadInput, MissingSource) {
  const auto d = load_error("good", replace(kGood, "{value: \"700 W\", source: ds}", "{value: \"700 W\"}"));
  EXPECT_NE(d.message.find("missing required key 'source'"), std::string::npos);
  EXPECT_EQ(d.key, "chip.power");
}

TEST(HardwareBadInput, BareNumberInsteadOfQuantityMap) {
  const auto d = load_error("good", replace(kGood, "{value: \"700 W\", source: ds}", "\"700 W\""));
  EXPECT_NE(d.hint.find("every number needs a unit and a source"), std::string::npos);
}

TEST(HardwareBadInput, MissingRequiredSection) {
  auto text = std::string(kGood);
  text = text.substr(0, text.find("scale_up:"));
  const auto d = load_error("good", text);
  EXPECT_NE(d.message.find("scale_up.domain_chips"), std::string::npos);
}

TEST(HardwareBadInput, IdMustMatchFileName) {
  const auto d = load_error("other", kGood);
  EXPECT_NE(d.message.find("does not match the file name"), std::string::npos);
  EXPECT_EQ(d.line, 1);
}

TEST(HardwareBadInput, BadEnumListsChoices) {
  const auto d = load_error("good", replace(kGood, "tier: hbm", "tier: hmb"));
  EXPECT_NE(d.hint.find("hbm"), std::string::npos);
  EXPECT_NE(d.hint.find("sram"), std::string::npos);
}

TEST(HardwareBadInput, MalformedYamlGivesLineAndColumn) {
  const auto d = load_error("good", "id: good\nchip: [unclosed\n");
  EXPECT_NE(d.message.find("malformed YAML"), std::string::npos);
  EXPECT_GT(d.line, 0);
}

TEST(HardwareBadInput, UnknownVariantBaseSuggestsNearId) {
  test::TempDir dir;
  dir.write("hw/x/good.yaml", kGood);
  dir.write("hw/x/child.yaml", "id: child\nvariant_of: goood\nname: Child\n");
  try {
    Catalog::load(dir.path() / "hw");
    FAIL();
  } catch (const DiagnosticError& e) {
    EXPECT_NE(e.diagnostic().hint.find("did you mean 'good'"), std::string::npos);
    EXPECT_EQ(e.diagnostic().line, 2);
  }
}

TEST(HardwareBadInput, VariantOverridesOnlyWhatItNames) {
  test::TempDir dir;
  dir.write("hw/x/good.yaml", kGood);
  dir.write("hw/x/child.yaml",
            "id: child\nvariant_of: good\nname: Child\nchip:\n  power: {value: \"500 W\", source: ds}\n");
  const auto c = Catalog::load(dir.path() / "hw");
  const auto& child = c.get("child");
  EXPECT_DOUBLE_EQ(child.chip_power_w->value, 500);
  EXPECT_EQ(child.chip_power_w->source, "test datasheet");  // base's references are inherited
  EXPECT_DOUBLE_EQ(child.main_memory().capacity_bytes.value, 80e9);
  EXPECT_DOUBLE_EQ(*child.peak_flop_per_s(ComputeClass::bf16), 1000e12);
}

TEST(HardwareBadInput, VariantCycleIsAnError) {
  test::TempDir dir;
  dir.write("hw/x/a.yaml", "id: a\nvariant_of: b\n");
  dir.write("hw/x/b.yaml", "id: b\nvariant_of: a\n");
  EXPECT_THROW(Catalog::load(dir.path() / "hw"), DiagnosticError);
}

TEST(HardwareBadInput, UnknownIdSuggests) {
  const auto c = Catalog::load(test::data_dir() / "hardware");
  try {
    (void)c.get("h100-sxn");
    FAIL();
  } catch (const DiagnosticError& e) {
    EXPECT_NE(e.diagnostic().hint.find("did you mean 'h100-sxm'"), std::string::npos);
  }
}

}  // namespace
}  // namespace tf::hardware
