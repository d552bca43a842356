#pragma once
// See int8_peak_avx512.cpp. Returns a checksum (so the work is not optimised away).
#include <cstdint>

uint64_t int8_peak_avx512(int64_t iterations);
// int8 multiply-adds one iteration of int8_peak_avx512 performs.
int64_t int8_peak_macs_per_iteration();
