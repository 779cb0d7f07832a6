// mbedTLS's heap: the counting, limiting calloc/free and the routing of mbedTLS's calls to them
// (see tls_heap.hpp for the two ways, shared and static).
// Sizes are malloc_usable_size of the block, so the free side needs no header: a block the
// wrapper did not allocate (none should exist: the routing is in place before mbedTLS first
// allocates) would only skew the count, never corrupt the heap.
#include "platform/alloc/tls_heap.hpp"

#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "platform/util/log.hpp"

#if !defined(BH_TLS_HEAP_LINKED) && defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
#include <elf.h>
#include <link.h>
#include <sys/mman.h>
#define BH_TLS_HEAP_GOT 1
#endif

namespace {
#if defined(BH_TLS_HEAP_LINKED)
constexpr bool kRoutedAtLink = true;
#else
constexpr bool kRoutedAtLink = false;
#endif

struct Heap {
  std::atomic<std::uint64_t> used{0};
  std::atomic<std::uint64_t> high{0};
  std::atomic<std::uint64_t> limit{bh::alloc::kTlsHeapLimitDefault};
  std::atomic<std::uint64_t> allocs{0};
  std::atomic<std::uint64_t> frees{0};
  std::atomic<std::uint64_t> refusals{0};
  bool bounded = kRoutedAtLink;
  bool tried = false;
};
Heap g_heap;
constexpr auto kRelaxed = std::memory_order_relaxed;
}  // namespace

extern "C" void* bh_mbedtls_calloc(std::size_t n, std::size_t size) noexcept {
  std::size_t bytes = 0;
  if (__builtin_mul_overflow(n, size, &bytes)) return nullptr;
  if (g_heap.used.load(kRelaxed) + bytes > g_heap.limit.load(kRelaxed)) {
    g_heap.refusals.fetch_add(1, kRelaxed);
    return nullptr;
  }
  void* p = std::calloc(n, size);
  if (!p) return nullptr;
  std::uint64_t now = g_heap.used.fetch_add(malloc_usable_size(p), kRelaxed) + malloc_usable_size(p);
  std::uint64_t high = g_heap.high.load(kRelaxed);
  while (now > high && !g_heap.high.compare_exchange_weak(high, now, kRelaxed)) {
  }
  g_heap.allocs.fetch_add(1, kRelaxed);
  return p;
}

extern "C" void bh_mbedtls_free(void* p) noexcept {
  if (!p) return;
  g_heap.used.fetch_sub(malloc_usable_size(p), kRelaxed);
  g_heap.frees.fetch_add(1, kRelaxed);
  std::free(p);
}

namespace {
#if BH_TLS_HEAP_GOT
#if defined(__x86_64__)
constexpr std::uint32_t kJumpSlot = R_X86_64_JUMP_SLOT;
constexpr std::uint32_t kGlobDat = R_X86_64_GLOB_DAT;
#else
constexpr std::uint32_t kJumpSlot = R_AARCH64_JUMP_SLOT;
constexpr std::uint32_t kGlobDat = R_AARCH64_GLOB_DAT;
#endif

struct HookScan {
  int libs = 0;     // mbedTLS libraries seen
  int patched = 0;  // of them, with both calloc and free routed
  bool failed = false;
};

// Writes `fn` into one GOT slot. The slot may be in the object's RELRO range, which the dynamic
// linker made read-only from the page holding its start to the page holding its end (exclusive,
// the same rounding as glibc's _dl_protect_relro): only those pages are unprotected and restored.
bool write_slot(void** slot, void* fn, std::uintptr_t ro_lo, std::uintptr_t ro_hi) noexcept {
  if (*slot == fn) return true;
  const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto at = reinterpret_cast<std::uintptr_t>(slot);
  const bool ro = at >= ro_lo && at < ro_hi;
  void* pg = reinterpret_cast<void*>(at & ~(page - 1));
  if (ro && mprotect(pg, page, PROT_READ | PROT_WRITE) != 0) return false;
  *slot = fn;
  if (ro) mprotect(pg, page, PROT_READ);
  return true;
}

int hook_object(dl_phdr_info* info, std::size_t, void* ctx) noexcept {
  auto* scan = static_cast<HookScan*>(ctx);
  const char* path = info->dlpi_name;
  if (!path || !*path) return 0;
  const char* base_name = std::strrchr(path, '/');
  base_name = base_name ? base_name + 1 : path;
  if (std::strncmp(base_name, "libmbedtls.so", 13) != 0 && std::strncmp(base_name, "libmbedx509.so", 14) != 0 &&
      std::strncmp(base_name, "libmbedcrypto.so", 16) != 0)
    return 0;
  ++scan->libs;
  const ElfW(Addr) base = info->dlpi_addr;
  const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  const ElfW(Dyn)* dyn = nullptr;
  std::uintptr_t ro_lo = 0, ro_hi = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_DYNAMIC) dyn = reinterpret_cast<const ElfW(Dyn)*>(base + ph.p_vaddr);
    if (ph.p_type == PT_GNU_RELRO) {
      ro_lo = (base + ph.p_vaddr) & ~(page - 1);
      ro_hi = (base + ph.p_vaddr + ph.p_memsz) & ~(page - 1);
    }
  }
  if (!dyn) return 0;
  // glibc rewrites these d_ptr entries to absolute addresses when it loads the object; other
  // loaders leave them relative to the load base.
  auto abs = [base](ElfW(Addr) a) { return a < base ? a + base : a; };
  const ElfW(Sym)* symtab = nullptr;
  const char* strtab = nullptr;
  const ElfW(Rela)* jmprel = nullptr;
  const ElfW(Rela)* rela = nullptr;
  std::size_t jmprel_size = 0, rela_size = 0;
  bool plt_is_rela = true;
  for (const ElfW(Dyn)* d = dyn; d->d_tag != DT_NULL; ++d) {
    switch (d->d_tag) {
      case DT_SYMTAB: symtab = reinterpret_cast<const ElfW(Sym)*>(abs(d->d_un.d_ptr)); break;
      case DT_STRTAB: strtab = reinterpret_cast<const char*>(abs(d->d_un.d_ptr)); break;
      case DT_JMPREL: jmprel = reinterpret_cast<const ElfW(Rela)*>(abs(d->d_un.d_ptr)); break;
      case DT_PLTRELSZ: jmprel_size = d->d_un.d_val; break;
      case DT_RELA: rela = reinterpret_cast<const ElfW(Rela)*>(abs(d->d_un.d_ptr)); break;
      case DT_RELASZ: rela_size = d->d_un.d_val; break;
      case DT_PLTREL: plt_is_rela = d->d_un.d_val == DT_RELA; break;
      default: break;
    }
  }
  if (!symtab || !strtab || !plt_is_rela) return 0;
  bool got_calloc = false, got_free = false;
  auto patch = [&](const ElfW(Rela)* r, std::size_t bytes) {
    if (!r) return;
    for (std::size_t i = 0; i < bytes / sizeof(ElfW(Rela)); ++i) {
      const auto type = ELF64_R_TYPE(r[i].r_info);
      if (type != kJumpSlot && type != kGlobDat) continue;
      const char* name = strtab + symtab[ELF64_R_SYM(r[i].r_info)].st_name;
      void* fn = nullptr;
      if (std::strcmp(name, "calloc") == 0) {
        fn = reinterpret_cast<void*>(&bh_mbedtls_calloc);
        got_calloc = true;
      } else if (std::strcmp(name, "free") == 0) {
        fn = reinterpret_cast<void*>(&bh_mbedtls_free);
        got_free = true;
      } else {
        continue;
      }
      if (!write_slot(reinterpret_cast<void**>(base + r[i].r_offset), fn, ro_lo, ro_hi)) scan->failed = true;
    }
  };
  patch(jmprel, jmprel_size);
  patch(rela, rela_size);
  if (got_calloc && got_free) ++scan->patched;
  return 0;
}
#endif
}  // namespace

namespace bh::alloc {

bool tls_heap_route() noexcept {
  if (g_heap.tried) return g_heap.bounded;
  g_heap.tried = true;
#if defined(BH_TLS_HEAP_LINKED)
  // The archives' calloc/free were renamed to ours (static-deps.cmake): routed since the start.
#elif BH_TLS_HEAP_GOT
  HookScan scan;
  dl_iterate_phdr(&hook_object, &scan);
  g_heap.bounded = scan.libs == 3 && scan.patched == 3 && !scan.failed;
  if (!g_heap.bounded)
    log::warn("tls: mbedTLS heap is not bounded ({} of {} libraries routed{}): memory is neither counted nor limited",
              scan.patched, scan.libs, scan.failed ? ", a GOT write failed" : "");
#else
  log::warn("tls: mbedTLS heap is not bounded on this platform: memory is neither counted nor limited");
#endif
  return g_heap.bounded;
}

TlsHeapStats tls_heap_stats() noexcept {
  TlsHeapStats s;
  s.bounded = g_heap.bounded;
  s.used = g_heap.used.load(kRelaxed);
  s.high_water = g_heap.high.load(kRelaxed);
  s.limit = g_heap.limit.load(kRelaxed);
  s.allocations = g_heap.allocs.load(kRelaxed);
  s.frees = g_heap.frees.load(kRelaxed);
  s.refusals = g_heap.refusals.load(kRelaxed);
  return s;
}
std::uint64_t tls_heap_refusals() noexcept { return g_heap.refusals.load(kRelaxed); }
void tls_heap_set_limit(std::uint64_t bytes) noexcept { g_heap.limit.store(bytes, kRelaxed); }
void tls_heap_reset_high_water() noexcept { g_heap.high.store(g_heap.used.load(kRelaxed), kRelaxed); }

}  // namespace bh::alloc
