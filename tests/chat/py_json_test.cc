// Python-compatible JSON: float repr against values printed by CPython's repr(), json.dumps
// formatting, exact big integers, escapes, truthiness and the parser's limits.
#include <gtest/gtest.h>

#include <cmath>

#include "chat/py_json.h"

namespace tachyon::chat {
namespace {

struct FloatCase {
  double value;
  const char* repr;
};

// repr(float) from CPython 3 for hand-picked and random doubles (random bit patterns and uniform draws).
const FloatCase kFloatCases[] = {
    {0x1.f400000000000p+9, "1000.0"},
    {0x1.4000000000000p+1, "2.5"},
    {0x1.0000000000000p+0, "1.0"},
    {0x1.999999999999ap-4, "0.1"},
    {0x1.1c37937e08000p+53, "1e+16"},
    {0x1.c6bf526340000p+49, "1000000000000000.0"},
    {0x1.b69b4ba630f35p+56, "1.2345678901234568e+17"},
    {0x1.a36e2eb1c432dp-14, "0.0001"},
    {0x1.4f8b588e368f1p-17, "1e-05"},
    {0x1.421f5f40d8376p-23, "1.5e-07"},
    {0x0.0000000000001p-1022, "5e-324"},
    {0x1.fffffffffffffp+1023, "1.7976931348623157e+308"},
    {-0x0.0p+0, "-0.0"},
    {0x0.0p+0, "0.0"},
    {-0x1.12e0be826d695p-32, "-2.5e-10"},
    {0x1.0f0cf064dd592p+73, "1e+22"},
    {0x1.b1ae4d6e2ef50p+69, "1e+21"},
    {0x1.0000000000000p+53, "9007199254740992.0"},
    {0x1.3333333333333p-2, "0.3"},
    {0x1.5555555555555p-1, "0.6666666666666666"},
    {0x1.9000000000000p+6, "100.0"},
    {0x1.249ad2594c37dp+332, "1e+100"},
    {-0x1.bff2ee48e0530p-333, "-1e-100"},
    {0x1.81cd6c8b43958p+13, "12345.678"},
    {0x1.01f31f46ed246p-13, "0.000123"},
    {0x1.18b54f22aeb03p+50, "1234567890123456.8"},
    {0x1.1c37937e07fffp+53, "9999999999999998.0"},
    {0x1.0a741a4627800p+58, "3e+17"},
    {-0x1.74de452e6b438p+811, "-1.989032661366619e+244"},
    {0x1.3270e269e0d37p+594, "7.761117632285041e+178"},
    {0x1.c7fd0a6a3a450p-826, "3.980498358697587e-249"},
    {-0x1.f0824128b2f33p+292, "-1.5432835417340557e+88"},
    {0x1.8e811892f902bp-638, "1.3647584518757569e-192"},
    {-0x1.1985d5d9dc9f8p-684, "-1.3701135617873088e-206"},
    {-0x1.25d940ed90475p+655, "-1.7160537630466207e+197"},
    {0x1.675cc81e74ef5p-144, "6.294675241195386e-44"},
    {0x1.0a35a099950d8p-671, "1.0613447212142254e-202"},
    {0x1.d549b6f03675ap+689, "4.708325160387546e+207"},
    {0x1.c172411e20b8fp-38, "6.387016158513563e-12"},
    {-0x1.16ece1738f7d9p-814, "-9.973130378568733e-246"},
    {0x1.1ddb66cad4a26p-781, "8.779753225680271e-236"},
    {-0x1.192cfd3ac94afp-755, "-5.795503248498993e-228"},
    {-0x1.c105d1fb17c23p+809, "-5.988180159386011e+243"},
    {-0x1.0b33839263059p-488, "-1.306052388527796e-147"},
    {-0x1.f48f1a09f76b5p-684, "-2.436117699484841e-206"},
    {0x1.630f1f29d0da9p-770, "2.233386999150174e-232"},
    {-0x1.60af593bd04cfp-673, "-3.51527970626667e-203"},
    {0x1.1e29c658cda14p-820, "1.5987381841032883e-247"},
    {0x1.8d190f9ebdaccp-118, "4.6678633181812096e-36"},
    {-0x1.1973e0becd7b0p-791, "-8.441872792105456e-239"},
    {0x1.7beaddbc496cbp-478, "1.9015657400796622e-144"},
    {0x1.cb2424a23d596p+693, "7.370437700706684e+208"},
    {-0x1.a63ec24ede6a4p-857, "-1.7163996725272777e-258"},
    {-0x1.766581e27a1c0p-733, "-3.2367190832119987e-221"},
    {-0x1.d05584ef8aa38p-777, "-2.2818334634712625e-234"},
    {-0x1.7ba94d0eda82fp-278, "-3.0536383926309363e-84"},
    {0x1.1dbe22e44158bp-601, "1.3449551894627777e-181"},
    {-0x1.a736994e3bf91p-732, "-7.317495976062606e-221"},
    {0x1.850c5a38fd547p-254, "5.249822308814304e-77"},
    {0x1.135d25f557203p-624, "1.5450754142984396e-188"},
    {-0x1.ce4228c38fb29p-155, "-3.953625698224792e-47"},
    {-0x1.a70c31012f037p-760, "-2.72491267476498e-229"},
    {-0x1.769b10f4205b4p-536, "-6.505141861548772e-162"},
    {0x1.5052434b9b5dfp+1010, "1.441484839555994e+304"},
    {-0x1.ed162ae2eb154p-894, "-1.4583679262758548e-269"},
    {-0x1.877186d76b07ep+112, "-7.939416668807721e+33"},
    {0x1.1af10506bf2efp+884, "1.4255183989699612e+266"},
    {-0x1.6a78795e761d1p+711, "-1.525315701232403e+214"},
    {-0x1.6dbf3f4c54698p+16, "-93631.24725844932"},
    {-0x1.87148066c556ep+18, "-400466.0062726353"},
    {0x1.1f7aded143b60p+19, "588758.9630449824"},
    {0x1.84a93784735a0p+18, "397988.8674591426"},
    {-0x1.f3cfbea0a8100p+18, "-511806.9785556942"},
    {0x1.22b7b5d383238p+17, "148847.42051734193"},
    {0x1.89b203e7262e0p+15, "50393.00762290298"},
    {0x1.6e585fb7799d8p+19, "750274.9911468579"},
    {0x1.c022a50c58230p+18, "458890.5788784353"},
    {-0x1.9e2f1e18140fep+18, "-424124.4702196269"},
    {0x1.d4ebb63d5186ep+19, "960349.6949851641"},
    {-0x1.74fb8e3112197p+19, "-763868.4434900758"},
    {-0x1.3fd52d9f7bbccp+17, "-163754.35642954556"},
    {0x1.f63a76fbfe7ccp+18, "514281.8591304987"},
    {-0x1.53dbddc81f4e6p+19, "-696030.9306789904"},
    {-0x1.58e73239bda80p+14, "-22073.799048388842"},
    {-0x1.c1fe2f8c88e77p+19, "-921585.4859051247"},
    {0x1.488beda2eb478p+18, "336431.71306879027"},
    {0x1.025eb77007ddep+19, "529141.7324256261"},
    {0x1.1d41f0b604c58p+17, "146051.88055476802"},
};

TEST(PyJson, FloatReprMatchesPython) {
  for (const FloatCase& c : kFloatCases) EXPECT_EQ(py_float_repr(c.value), c.repr) << std::hexfloat << c.value;
}

TEST(PyJson, ExactIntegerOfDouble) {
  EXPECT_EQ(exact_integer_text(0x1.5af1d78b58c40p+66), "100000000000000000000");
  EXPECT_EQ(exact_integer_text(0x1.0000000000000p+70), "1180591620717411303424");
  EXPECT_EQ(exact_integer_text(-0x1.a055690d9db80p+64), "-30000000000000000000");
  EXPECT_EQ(exact_integer_text(0x1.a249b1f10a06dp+76), "123456789012345685803008");
  EXPECT_EQ(exact_integer_text(-0.0), "0");
  EXPECT_EQ(exact_integer_text(42.0), "42");
  const std::string big = exact_integer_text(0x1.7e43c8800759cp+996);  // 1e300
  EXPECT_EQ(big.size(), 301u);
  EXPECT_EQ(big.substr(0, 20), "10000000000000000525");
  EXPECT_EQ(big.substr(big.size() - 10), "9400540160");
}

std::string roundtrip(std::string_view text) {
  auto j = parse_json_exact(text);
  EXPECT_TRUE(j.is_ok()) << text << ": " << j.status().message();
  return j.is_ok() ? py_dumps(*j) : "";
}

TEST(PyJson, DumpsLikePython) {
  // Expected strings are json.dumps(json.loads(text), ensure_ascii=False).
  EXPECT_EQ(roundtrip(R"({"b":1,"a":[1,2.50,1E2,-0,true,null],"c":{}})"),
            R"({"b": 1, "a": [1, 2.5, 100.0, 0, true, null], "c": {}})");
  EXPECT_EQ(roundtrip("[1e3, 1e-07, 1e16, 1.5e300, -0.0, 0.1, 1e400, -1e400]"),
            "[1000.0, 1e-07, 1e+16, 1.5e+300, -0.0, 0.1, Infinity, -Infinity]");
  EXPECT_EQ(roundtrip("[12345678901234567890, -98765432109876543210987, 18446744073709551615, -9223372036854775808]"),
            "[12345678901234567890, -98765432109876543210987, 18446744073709551615, -9223372036854775808]");
  EXPECT_EQ(roundtrip(R"(["\u00e9\u6df1 \ud83d\ude80", "q\"b\\s/\n\t\r\b\f\u0001\u001f\u007f"])"),
            "[\"\u00e9\u6df1 \U0001F680\", \"q\\\"b\\\\s/\\n\\t\\r\\b\\f\\u0001\\u001f\x7f\"]");
  EXPECT_EQ(roundtrip("[]"), "[]");
  EXPECT_EQ(roundtrip("{}"), "{}");
  EXPECT_EQ(roundtrip(" \"x\" "), "\"x\"");
}

TEST(PyJson, RepeatedKeyKeepsFirstPositionAndLastValue) {
  EXPECT_EQ(roundtrip(R"({"a":1,"b":2,"a":3})"), R"({"a": 3, "b": 2})");
}

TEST(PyJson, QuoteReplacesInvalidUtf8) {
  EXPECT_EQ(py_quote("a\xff\xc3"), "\"a\uFFFD\uFFFD\"");
  EXPECT_EQ(py_quote("\xe6\xb7\xb1"), "\"\u6df1\"");
  EXPECT_EQ(sanitize_utf8("ok\xed\xa0\x80"), "ok\uFFFD\uFFFD\uFFFD");  // an encoded surrogate is invalid
}

TEST(PyJson, RejectsMalformedInput) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "NaN", "[Infinity]", "\"\\ud800\"", "01", "1 2",
                          "\"\xff\"", "{\"a\":1}x"}) {
    auto r = parse_json_exact(bad);
    EXPECT_FALSE(r.is_ok()) << bad;
    if (!r.is_ok()) {
      EXPECT_NE(r.status().message().find("invalid JSON"), std::string::npos);
    }
  }
}

TEST(PyJson, DepthAndDigitLimits) {
  EXPECT_TRUE(parse_json_exact(std::string(500, '[') + std::string(500, ']')).is_ok());
  EXPECT_FALSE(parse_json_exact(std::string(100000, '[') + std::string(100000, ']')).is_ok());
  EXPECT_TRUE(parse_json_exact(std::string(4300, '7')).is_ok());
  EXPECT_FALSE(parse_json_exact(std::string(4301, '7')).is_ok());
}

TEST(PyJson, Truthiness) {
  for (const char* t : {"1", "-1", "0.5", "\"x\"", "[0]", "{\"a\":null}", "true", "123456789012345678901234"})
    EXPECT_TRUE(py_truthy(*parse_json_exact(t))) << t;
  for (const char* f : {"0", "0.0", "-0.0", "\"\"", "[]", "{}", "false", "null"})
    EXPECT_FALSE(py_truthy(*parse_json_exact(f))) << f;
}

}  // namespace
}  // namespace tachyon::chat
