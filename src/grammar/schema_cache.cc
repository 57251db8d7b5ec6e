// SchemaCompiler: compiled schemas cached by their compact text, least recently used evicted first.
#include "grammar/json_schema.h"

#include "core/check.h"

namespace tachyon::grammar {

SchemaCompiler::SchemaCompiler(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

Result<std::shared_ptr<const Grammar>> SchemaCompiler::compile(const Json& schema) {
  std::string key = schema.dump();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (const auto it = index_.find(key); it != index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      ++hits_;
      return it->second->second;
    }
    ++misses_;
  }
  // Compiled outside the lock: two threads may compile the same schema at once; the first stored wins.
  Result<std::shared_ptr<const Grammar>> r = compile_json_schema(schema);
  std::lock_guard<std::mutex> lock(mu_);
  if (const auto it = index_.find(key); it != index_.end()) return it->second->second;
  lru_.emplace_front(key, r);
  index_.emplace(std::move(key), lru_.begin());
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
  return r;
}

Result<std::shared_ptr<const Grammar>> SchemaCompiler::compile_text(std::string_view schema_text) {
  Json schema;
  try {
    schema = Json::parse(schema_text);
  } catch (const Json::parse_error& e) {
    return error("the JSON schema is not valid JSON: {}", e.what());
  }
  return compile(schema);
}

std::shared_ptr<const Grammar> SchemaCompiler::json_object() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!json_object_) {
    GrammarBuilder b;
    const JsonAnyRules any = add_json_any(b);
    auto g = b.build(any.object);
    TACHYON_CHECK(g.is_ok(), g.status().message());
    json_object_ = g.value();
  }
  return json_object_;
}

size_t SchemaCompiler::cache_size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lru_.size();
}
size_t SchemaCompiler::hits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hits_;
}
size_t SchemaCompiler::misses() const {
  std::lock_guard<std::mutex> lock(mu_);
  return misses_;
}

}  // namespace tachyon::grammar
