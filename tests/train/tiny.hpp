// tiny.hpp — a small random Gemma for the training tests (byte vocabulary, 2 layers).
#pragma once
#include "xla/gemma.hpp"

inline xla::GemmaConfig tiny_config(int version = 3) {
  xla::GemmaConfig c;
  c.version = version;
  c.vocab_size = 259;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_layers = 2;
  c.num_heads = 2;
  c.num_kv_heads = 1;
  c.head_dim = 16;
  c.query_pre_attn_scalar = 16;
  c.sliding_window = 8;
  c.sliding = {1, 0};
  if (version == 2) c.attn_softcap = 50, c.final_softcap = 30;
  return c;
}
