//! Screening products in bf16, with a proven error bound: on Intel AMX tiles or with AVX-512
//! BF16 dot products.
//!
//! A tile multiply (`tdpbf16ps`) does 16 × 16 × 32 multiply-adds in one instruction, about 14×
//! the f32 throughput of AVX-512 on one core (measured 1.4 TFLOP/s); `vdpbf16ps` (AVX-512 BF16,
//! e.g. AMD Zen 4, which has no tiles) does twice the multiply-adds of an f32 FMA. Their inputs
//! are bf16 (8 significant bits), so their products only *screen*: every product comes with a
//! bound on how far the squared distance it gives can be from the true one, callers keep every
//! point the bound cannot rule out, and the survivors are measured again in f32 by
//! [`super::euclidean`]. The result is therefore the same as the f32 search's; only the work is
//! less.
//!
//! The bound: with `x = h + e` (h the bf16 rounding of x, e the residual),
//! `x·y − h_x·h_y = h_x·e_y + e_x·h_y + e_x·e_y`, so by Cauchy–Schwarz
//! `|x·y − h_x·h_y| ≤ ‖h_x‖‖e_y‖ + ‖e_x‖‖h_y‖ + ‖e_x‖‖e_y‖`, plus the f32 rounding of the
//! accumulation (bf16 × bf16 is exact in f32; only the sums round, in any order) and of
//! `‖x‖² + ‖y‖² − 2x·y`. [`Bf16Points::slack`] turns that into one number per point; on MiniLM
//! embeddings the bound is about ±0.008 in squared distance and leaves about k + 3 candidates
//! per point at 10k points (BENCHMARKS.md).

use std::sync::OnceLock;

use rayon::prelude::*;

use super::Points;

/// Points per tile side and bf16 values per tile row (64 bytes).
const TILE: usize = 16;
const CHUNK: usize = 32;
/// Query rows and target points per kernel call: 2 × 2 tiles.
pub(crate) const BLOCK: usize = 32;

/// The instructions that multiply bf16 here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bf16Kind {
    /// Intel AMX tiles (`tdpbf16ps`).
    AmxTiles,
    /// AVX-512 BF16 dot products (`vdpbf16ps`).
    Avx512,
}

impl Bf16Kind {
    pub fn describe(self) -> &'static str {
        match self {
            Self::AmxTiles => "bf16 AMX tiles",
            Self::Avx512 => "bf16 AVX-512 products",
        }
    }
}

/// The bf16 unit this process screens with: AMX tiles if the CPU has them and Linux granted the
/// tile state, else AVX-512 BF16, else none (f32 products), each only after a test product came
/// out right. `PANIC_TDA_NO_AMX=1` skips the tiles and `PANIC_TDA_NO_BF16=1` both (for comparing
/// the kernels).
pub(crate) fn kind() -> Option<Bf16Kind> {
    static KIND: OnceLock<Option<Bf16Kind>> = OnceLock::new();
    *KIND.get_or_init(|| {
        let off = |name: &str| std::env::var_os(name).is_some_and(|v| v != "0");
        let (no_bf16, no_amx) = (off("PANIC_TDA_NO_BF16"), off("PANIC_TDA_NO_AMX"));
        let skipped = |kind: Bf16Kind| no_bf16 || (no_amx && kind == Bf16Kind::AmxTiles);
        let kind = supported().into_iter().find(|&kind| !skipped(kind));
        tracing::debug!(?kind, no_bf16, no_amx, "bf16 screening products");
        kind
    })
}

/// Every bf16 unit this CPU runs correctly, fastest first (whatever the switches say). A unit
/// the CPU reports but that fails its self-test is left out with a warning.
fn supported() -> Vec<Bf16Kind> {
    [Bf16Kind::AmxTiles, Bf16Kind::Avx512]
        .into_iter()
        .filter(|&kind| detect(kind))
        .filter(|&kind| {
            let works = self_test(kind);
            if !works {
                tracing::warn!(
                    ?kind,
                    "bf16 unit reported by the CPU gave wrong products; not used"
                );
            }
            works
        })
        .collect()
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn detect(kind: Bf16Kind) -> bool {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    // The scans of the products use AVX-512F (every CPU with AMX or AVX-512 BF16 has it).
    if !std::arch::is_x86_feature_detected!("avx512f") {
        return false;
    }
    if kind == Bf16Kind::Avx512 {
        return std::arch::is_x86_feature_detected!("avx512bf16");
    }
    // CPUID leaf 7: EDX bit 22 = AMX-BF16, bit 24 = AMX-TILE.
    #[allow(unused_unsafe)]
    let (max_leaf, edx) = unsafe { (__cpuid(0).eax, __cpuid_count(7, 0).edx) };
    if max_leaf < 7 || edx & (1 << 22) == 0 || edx & (1 << 24) == 0 {
        return false;
    }
    const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
    const XFEATURE_XTILEDATA: libc::c_long = 18;
    // SAFETY: a plain syscall asking for permission to use the tile registers; no memory is
    // passed.
    let granted = unsafe {
        libc::syscall(
            libc::SYS_arch_prctl,
            ARCH_REQ_XCOMP_PERM,
            XFEATURE_XTILEDATA,
        )
    };
    granted == 0
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn detect(_: Bf16Kind) -> bool {
    false
}

/// One block of products against a scalar reference, so a CPU or hypervisor that reports the
/// instructions but does not run them right is never used.
fn self_test(kind: Bf16Kind) -> bool {
    // Two chunks of 32 dimensions, the last pair half padding.
    let dim = 63;
    let data: Vec<f32> = (0..BLOCK * dim)
        .map(|i| ((i * 7919 % 61) as f32 - 30.0) / 16.0)
        .collect();
    let Ok(points) = Points::new(&data, dim) else {
        return false;
    };
    let Some(packed) = Bf16Points::pack_for(points, kind) else {
        return false;
    };
    let mut out = [0f32; BLOCK * BLOCK];
    let unit = Bf16Unit::start(&packed);
    unit.products(&packed, packed.query_rows(0), 0, &mut out, BLOCK);
    drop(unit);
    (0..BLOCK).all(|i| {
        (0..BLOCK).all(|j| {
            let want: f32 = (0..dim)
                .map(|c| {
                    to_f32(packed.rows[i * packed.dim_pad + c])
                        * to_f32(packed.rows[j * packed.dim_pad + c])
                })
                .sum();
            (want - out[i * BLOCK + j]).abs() <= 1e-3 * (1.0 + want.abs())
        })
    })
}

/// bf16 by round-to-nearest-even; values too small for a normal bf16 become 0, as the tile unit
/// would read them, so the residual accounts for them.
fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    let rounded = bits.wrapping_add(0x7fff + ((bits >> 16) & 1));
    let value = (rounded >> 16) as u16;
    if value & 0x7f80 == 0 { 0 } else { value }
}

fn to_f32(value: u16) -> f32 {
    f32::from_bits(u32::from(value) << 16)
}

/// Points in bf16, laid out for both units' loads, with each point's error bound.
pub(crate) struct Bf16Points {
    /// The unit these are multiplied on.
    kind: Bf16Kind,
    n: usize,
    /// Dimensions padded with zeros to a multiple of 32.
    dim_pad: usize,
    /// Row-major, `n` padded with zero rows to a multiple of [`BLOCK`]: the query tiles.
    rows: Vec<u16>,
    /// The target tiles: per group of 16 points and per 32 dimensions, 16 rows of pairs
    /// (`[pair][point][2]`), the layout `tdpbf16ps` reads its second operand in.
    packed: Vec<u16>,
    /// Per point, `s_i` such that the squared distance of points i and j computed from their
    /// bf16 product is within `s_i + s_j` of the exact one.
    slack: Vec<f32>,
}

impl Bf16Points {
    /// `None` when this CPU has no bf16 unit, or a norm is outside what bf16 products can bound
    /// usefully (then the f32 kernel is used).
    pub(crate) fn pack(points: Points<'_>) -> Option<Self> {
        Self::pack_for(points, kind()?)
    }

    fn pack_for(points: Points<'_>, kind: Bf16Kind) -> Option<Self> {
        let (n, dim) = (points.len(), points.dim());
        let dim_pad = dim.div_ceil(CHUNK) * CHUNK;
        let n_pad = n.div_ceil(BLOCK) * BLOCK;
        let mut rows = vec![0u16; n_pad * dim_pad];
        // Per point: (‖h‖, ‖e‖) of its bf16 rounding h and residual e.
        let norms: Vec<(f32, f32)> = rows
            .par_chunks_mut(dim_pad)
            .take(n)
            .enumerate()
            .map(|(i, out)| {
                let (mut high, mut low) = (0f32, 0f32);
                for (slot, &x) in out.iter_mut().zip(points.row(i)) {
                    *slot = to_bf16(x);
                    let h = to_f32(*slot);
                    high += h * h;
                    low += (x - h) * (x - h);
                }
                // f32 sums of `dim` squares are within dim · 2^-24 of the true ones: round up.
                let up = 1.0 + dim as f32 * 1.2e-7;
                ((high * up).sqrt(), (low * up).sqrt())
            })
            .collect();
        let (high_norm, residual): (Vec<f32>, Vec<f32>) = norms.into_iter().unzip();
        let max_high = high_norm.iter().copied().fold(0f32, f32::max);
        let max_residual = residual.iter().copied().fold(0f32, f32::max);
        if !(1e-6..=1e6).contains(&max_high) {
            return None;
        }
        // f32 rounding: the tile sums `dim` products (each sum off by at most 2^-24 of
        // ‖h_x‖‖h_y‖), ‖x‖² + ‖y‖² − 2x·y rounds a few more times, and the f32 distances the
        // survivors are ranked by are off by up to `dim` · 2^-24 · 4 max‖x‖² each. The term
        // covers all of them twice over, plus 1e-3 max‖x‖² to spare.
        let rounding = (1e-3 + 12.0 * dim as f32 * 6e-8) * max_high * max_high;
        // 2|x·y − h_x·h_y| ≤ 2‖h_x‖‖e_y‖ + 2‖e_x‖‖h_y‖ + 2‖e_x‖‖e_y‖ ≤ s_x + s_y with
        // s = ‖e‖ (2 max‖h‖ + max‖e‖) + rounding / 2.
        let slack = residual
            .iter()
            .map(|&e| e * (2.0 * max_high + max_residual) * 1.0001 + rounding / 2.0)
            .collect();
        let chunks = dim_pad / CHUNK;
        let mut packed = vec![0u16; n_pad * dim_pad];
        packed
            .par_chunks_mut(chunks * TILE * CHUNK)
            .enumerate()
            .for_each(|(group, out)| {
                for chunk in 0..chunks {
                    for pair in 0..TILE {
                        for point in 0..TILE {
                            let source =
                                (group * TILE + point) * dim_pad + chunk * CHUNK + 2 * pair;
                            let target = (chunk * TILE + pair) * CHUNK + 2 * point;
                            out[target] = rows[source];
                            out[target + 1] = rows[source + 1];
                        }
                    }
                }
            });
        Some(Self {
            kind,
            n,
            dim_pad,
            rows,
            packed,
            slack,
        })
    }

    /// Target blocks of [`BLOCK`] points (the last one padded).
    pub(crate) fn blocks(&self) -> usize {
        self.n.div_ceil(BLOCK)
    }

    pub(crate) fn slack(&self, point: usize) -> f32 {
        self.slack[point]
    }

    pub(crate) fn max_slack(&self) -> f32 {
        self.slack.iter().copied().fold(0f32, f32::max)
    }

    /// The 32 query rows of block `block`, in the query layout.
    pub(crate) fn query_rows(&self, block: usize) -> &[u16] {
        &self.rows[block * BLOCK * self.dim_pad..(block + 1) * BLOCK * self.dim_pad]
    }

    /// Rows `points` (up to 32; the rest zero) gathered into `out` in the query layout.
    pub(crate) fn gather(&self, points: &[u32], out: &mut Vec<u16>) {
        out.clear();
        out.resize(BLOCK * self.dim_pad, 0);
        for (slot, &p) in points.iter().take(BLOCK).enumerate() {
            let p = p as usize;
            out[slot * self.dim_pad..(slot + 1) * self.dim_pad]
                .copy_from_slice(&self.rows[p * self.dim_pad..(p + 1) * self.dim_pad]);
        }
    }
}

/// The bf16 unit, ready on this thread: for AMX the tile registers configured (16 rows × 64
/// bytes each), released on drop. Only made for points [`Bf16Points::pack`] packed, so only where [`kind`] found a unit. Not `Send`, and no
/// rayon work may run on the thread while one is alive (a stolen task's own unit would release
/// the tile configuration under it), so callers make one inside each parallel task around plain
/// loops.
pub(crate) struct Bf16Unit {
    kind: Bf16Kind,
    _not_send: std::marker::PhantomData<*const ()>,
}

#[repr(C, align(64))]
struct TileConfig([u8; 64]);

impl Bf16Unit {
    /// The unit `points` were packed for (which [`detect`] found).
    pub(crate) fn start(points: &Bf16Points) -> Self {
        let kind = points.kind;
        if kind == Bf16Kind::AmxTiles {
            let mut config = TileConfig([0; 64]);
            config.0[0] = 1; // palette 1
            for tile in 0..8 {
                config.0[16 + 2 * tile] = 64; // bytes per row
                config.0[48 + tile] = TILE as u8; // rows
            }
            #[cfg(target_arch = "x86_64")]
            // SAFETY: only reached after `detect` confirmed the CPU and OS support tiles; the
            // config is a valid 64-byte palette-1 layout.
            unsafe {
                std::arch::asm!("ldtilecfg [{}]", in(reg) config.0.as_ptr(), options(nostack));
            }
        }
        Self {
            kind,
            _not_send: std::marker::PhantomData,
        }
    }

    /// `out[r * out_stride + c]` = bf16 product of query row `r` of `queries` (query layout,
    /// 32 rows) with point `32 · target_block + c` of `points`, for r, c < 32.
    pub(crate) fn products(
        &self,
        points: &Bf16Points,
        queries: &[u16],
        target_block: usize,
        out: &mut [f32],
        out_stride: usize,
    ) {
        let chunks = points.dim_pad / CHUNK;
        assert!(queries.len() >= BLOCK * points.dim_pad && target_block < points.blocks());
        assert!(out_stride >= BLOCK && out.len() >= (BLOCK - 1) * out_stride + BLOCK);
        let group = 2 * target_block;
        let low = points.packed[group * chunks * TILE * CHUNK..].as_ptr();
        let high = points.packed[(group + 1) * chunks * TILE * CHUNK..].as_ptr();
        #[cfg(target_arch = "x86_64")]
        {
            let block = Block {
                queries: queries.as_ptr(),
                dim_pad: points.dim_pad,
                low,
                high,
                out: out.as_mut_ptr(),
                out_stride,
            };
            // SAFETY: the unit exists only where `detect` found its instructions; the reads
            // stay inside `queries` (32 rows of `dim_pad`) and the two packed groups (`chunks` ·
            // 1 KB each), and the writes inside `out` (bounds asserted above).
            unsafe {
                match self.kind {
                    Bf16Kind::AmxTiles => tile_block(&block),
                    Bf16Kind::Avx512 => avx512_block(&block),
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = (low, high, out, out_stride);
            unreachable!("a bf16 unit exists only where kind() found one");
        }
    }
}

/// The operands of one 32 × 32 block of products: 32 query rows of `dim_pad` bf16 (query
/// layout), the two packed target groups of 16 points (`dim_pad / 32` KB each), and the output,
/// 32 rows of 32 floats `out_stride` floats apart.
#[cfg(target_arch = "x86_64")]
struct Block {
    queries: *const u16,
    dim_pad: usize,
    low: *const u16,
    high: *const u16,
    out: *mut f32,
    out_stride: usize,
}

/// One 32 × 32 block on 2 × 2 tiles: `dim_pad / 32` rounds of two query tiles (16 rows of 32
/// dimensions) times two packed target tiles (32 dimensions as 16 pairs of 16 points).
///
/// # Safety
/// Tiles configured on this thread; `block`'s pointers valid for the sizes it describes.
#[cfg(target_arch = "x86_64")]
unsafe fn tile_block(block: &Block) {
    let (dim_pad, out) = (block.dim_pad, block.out);
    let query_stride = dim_pad * 2;
    // SAFETY: as promised by the caller.
    unsafe {
        std::arch::asm!(
            "tilezero tmm0",
            "tilezero tmm1",
            "tilezero tmm2",
            "tilezero tmm3",
            options(nostack, preserves_flags)
        );
        for chunk in 0..dim_pad / CHUNK {
            let a_top = block.queries.add(chunk * CHUNK);
            let a_bottom = a_top.add(TILE * dim_pad);
            let b_left = block.low.add(chunk * TILE * CHUNK);
            let b_right = block.high.add(chunk * TILE * CHUNK);
            std::arch::asm!(
                "tileloadd tmm4, [{a_top} + {stride}*1]",
                "tileloadd tmm5, [{a_bottom} + {stride}*1]",
                "tileloadd tmm6, [{b_left} + {packed}*1]",
                "tileloadd tmm7, [{b_right} + {packed}*1]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tdpbf16ps tmm3, tmm5, tmm7",
                a_top = in(reg) a_top,
                a_bottom = in(reg) a_bottom,
                b_left = in(reg) b_left,
                b_right = in(reg) b_right,
                stride = in(reg) query_stride,
                packed = in(reg) 64usize,
                options(nostack, preserves_flags, readonly)
            );
        }
        std::arch::asm!(
            "tilestored [{c00} + {stride}*1], tmm0",
            "tilestored [{c01} + {stride}*1], tmm1",
            "tilestored [{c10} + {stride}*1], tmm2",
            "tilestored [{c11} + {stride}*1], tmm3",
            c00 = in(reg) out,
            c01 = in(reg) out.add(TILE),
            c10 = in(reg) out.add(TILE * block.out_stride),
            c11 = in(reg) out.add(TILE * block.out_stride + TILE),
            stride = in(reg) block.out_stride * 4,
            options(nostack, preserves_flags)
        );
    }
}

/// Query rows per pass of [`avx512_block`]: 8 rows × 2 column vectors = 16 accumulators, plus
/// the two target vectors and a broadcast, fit the 32 registers.
const AVX512_ROWS: usize = 8;

/// The same block with `vdpbf16ps`: the packed target layout is already its second operand (per
/// pair of dimensions, 16 points' pairs in one vector), and each query row's pair is broadcast.
///
/// # Safety
/// The CPU has AVX-512F and AVX-512 BF16; `block`'s pointers valid for the sizes it describes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn avx512_block(block: &Block) {
    let &Block {
        queries,
        dim_pad,
        low,
        high,
        out,
        out_stride,
    } = block;
    use std::arch::x86_64::*;
    // SAFETY: as promised by the caller; pair p of a packed group is the 64 bytes at 32 · p, and
    // row r's pair p the 4 bytes at r · dim_pad + 2p.
    unsafe {
        let as_bf16 = |v: __m512i| -> __m512bh { std::mem::transmute(v) };
        for pass in 0..BLOCK / AVX512_ROWS {
            let rows = queries.add(pass * AVX512_ROWS * dim_pad);
            let mut sums = [[_mm512_setzero_ps(); 2]; AVX512_ROWS];
            for pair in 0..dim_pad / 2 {
                let left = as_bf16(_mm512_loadu_si512(low.add(pair * CHUNK).cast()));
                let right = as_bf16(_mm512_loadu_si512(high.add(pair * CHUNK).cast()));
                for (row, sum) in sums.iter_mut().enumerate() {
                    let both = rows
                        .add(row * dim_pad + 2 * pair)
                        .cast::<i32>()
                        .read_unaligned();
                    let query = as_bf16(_mm512_set1_epi32(both));
                    sum[0] = _mm512_dpbf16_ps(sum[0], query, left);
                    sum[1] = _mm512_dpbf16_ps(sum[1], query, right);
                }
            }
            for (row, sum) in sums.iter().enumerate() {
                let at = out.add((pass * AVX512_ROWS + row) * out_stride);
                _mm512_storeu_ps(at, sum[0]);
                _mm512_storeu_ps(at.add(TILE), sum[1]);
            }
        }
    }
}

impl Bf16Unit {
    /// Per 32 columns, the bit mask of the columns c with `norms[c] − 2 · products[c] < cut`:
    /// a row's scan of its products (AVX-512: a fused multiply-add, a compare and a mask per 16).
    pub(crate) fn under_cut(&self, products: &[f32], norms: &[f32], cut: f32, masks: &mut [u32]) {
        let chunks = masks.len();
        assert!(products.len() >= chunks * BLOCK && norms.len() >= chunks * BLOCK);
        for (chunk, mask) in masks.iter_mut().enumerate() {
            // SAFETY: `self` exists only where `detect` found AVX-512F; the 32 floats read
            // from each slice at `chunk · 32` are inside it (asserted above).
            *mask = unsafe {
                scan::under(
                    products.as_ptr().add(chunk * BLOCK),
                    norms.as_ptr().add(chunk * BLOCK),
                    cut,
                )
            };
        }
    }

    /// A column scan: the columns c with `row_norm − 2 · products[c] < cuts[c]`.
    pub(crate) fn under_cuts(
        &self,
        products: &[f32],
        row_norm: f32,
        cuts: &[f32],
        masks: &mut [u32],
    ) {
        let chunks = masks.len();
        assert!(products.len() >= chunks * BLOCK && cuts.len() >= chunks * BLOCK);
        for (chunk, mask) in masks.iter_mut().enumerate() {
            // SAFETY: as in `under_cut`.
            *mask = unsafe {
                scan::under_each(
                    products.as_ptr().add(chunk * BLOCK),
                    row_norm,
                    cuts.as_ptr().add(chunk * BLOCK),
                )
            };
        }
    }

    /// A bridge search's scan of 32 columns: those under `cut` (as in [`Bf16Unit::under_cut`])
    /// whose component is not `component` and whose core distance is under `bound`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn bridge_mask(
        &self,
        products: &[f32],
        norms: &[f32],
        components: &[u32],
        cores: &[f32],
        cut: f32,
        component: u32,
        bound: f32,
    ) -> u32 {
        assert!(
            products.len() >= BLOCK
                && norms.len() >= BLOCK
                && components.len() >= BLOCK
                && cores.len() >= BLOCK
        );
        // SAFETY: as in `under_cut`; each slice holds the 32 values read (asserted).
        unsafe {
            scan::under(products.as_ptr(), norms.as_ptr(), cut)
                & scan::outside(components.as_ptr(), component)
                & scan::below(cores.as_ptr(), bound)
        }
    }
}

/// The AVX-512 scans behind [`Bf16Unit`]' methods; each reads 32 values from each pointer.
/// `norm − 2p` is exact in the product, so the fused form rounds as `norm − 2.0 * p` does.
#[cfg(target_arch = "x86_64")]
mod scan {
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn under(products: *const f32, norms: *const f32, cut: f32) -> u32 {
        let (minus_two, cut) = (_mm512_set1_ps(-2.0), _mm512_set1_ps(cut));
        // SAFETY: the caller guarantees 32 readable floats behind each pointer.
        unsafe {
            let low = _mm512_fmadd_ps(_mm512_loadu_ps(products), minus_two, _mm512_loadu_ps(norms));
            let high = _mm512_fmadd_ps(
                _mm512_loadu_ps(products.add(16)),
                minus_two,
                _mm512_loadu_ps(norms.add(16)),
            );
            u32::from(_mm512_cmp_ps_mask::<_CMP_LT_OQ>(low, cut))
                | (u32::from(_mm512_cmp_ps_mask::<_CMP_LT_OQ>(high, cut)) << 16)
        }
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn under_each(products: *const f32, row_norm: f32, cuts: *const f32) -> u32 {
        let (minus_two, norm) = (_mm512_set1_ps(-2.0), _mm512_set1_ps(row_norm));
        // SAFETY: as in `under`.
        unsafe {
            let low = _mm512_fmadd_ps(_mm512_loadu_ps(products), minus_two, norm);
            let high = _mm512_fmadd_ps(_mm512_loadu_ps(products.add(16)), minus_two, norm);
            u32::from(_mm512_cmp_ps_mask::<_CMP_LT_OQ>(low, _mm512_loadu_ps(cuts)))
                | (u32::from(_mm512_cmp_ps_mask::<_CMP_LT_OQ>(
                    high,
                    _mm512_loadu_ps(cuts.add(16)),
                )) << 16)
        }
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn outside(components: *const u32, component: u32) -> u32 {
        let component = _mm512_set1_epi32(component as i32);
        // SAFETY: as in `under`.
        unsafe {
            let low = _mm512_loadu_si512(components.cast());
            let high = _mm512_loadu_si512(components.add(16).cast());
            u32::from(_mm512_cmpneq_epi32_mask(low, component))
                | (u32::from(_mm512_cmpneq_epi32_mask(high, component)) << 16)
        }
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn below(values: *const f32, bound: f32) -> u32 {
        let bound = _mm512_set1_ps(bound);
        // SAFETY: as in `under`.
        unsafe {
            u32::from(_mm512_cmp_ps_mask::<_CMP_LT_OQ>(
                _mm512_loadu_ps(values),
                bound,
            )) | (u32::from(_mm512_cmp_ps_mask::<_CMP_LT_OQ>(
                _mm512_loadu_ps(values.add(16)),
                bound,
            )) << 16)
        }
    }
}

/// No bf16 unit off x86-64, so none of these is ever called there.
#[cfg(not(target_arch = "x86_64"))]
mod scan {
    pub(super) unsafe fn under(_: *const f32, _: *const f32, _: f32) -> u32 {
        unreachable!("a bf16 unit exists only where kind() found one")
    }
    pub(super) unsafe fn under_each(_: *const f32, _: f32, _: *const f32) -> u32 {
        unreachable!("a bf16 unit exists only where kind() found one")
    }
    pub(super) unsafe fn outside(_: *const u32, _: u32) -> u32 {
        unreachable!("a bf16 unit exists only where kind() found one")
    }
    pub(super) unsafe fn below(_: *const f32, _: f32) -> u32 {
        unreachable!("a bf16 unit exists only where kind() found one")
    }
}

impl Drop for Bf16Unit {
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        if self.kind == Bf16Kind::AmxTiles {
            // SAFETY: returns the tile state to its initial state; valid after `ldtilecfg`.
            unsafe {
                std::arch::asm!("tilerelease", options(nostack, preserves_flags));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_rounding_is_to_nearest_and_its_residual_bound_holds() {
        assert_eq!(to_f32(to_bf16(1.0)), 1.0);
        assert_eq!(to_f32(to_bf16(-2.5)), -2.5);
        let x = 1.0 + 3.0 / 512.0; // between two bf16 values, nearer the upper
        assert_eq!(to_f32(to_bf16(x)), 1.0 + 4.0 / 512.0);
        assert_eq!(
            to_bf16(1e-39),
            0,
            "subnormals are read as zero by the tiles"
        );
        for i in 0..1000 {
            let x = (i as f32 * 0.7371).sin() * 10f32.powi(i % 7 - 3);
            assert!((x - to_f32(to_bf16(x))).abs() <= x.abs() / 256.0, "{x}");
        }
    }

    #[test]
    fn every_bf16_unit_gives_the_bf16_products_within_the_bound() {
        // Every unit the CPU reports, not only those that passed the self-test: a broken kernel
        // must fail here, not quietly give way to f32.
        let kinds: Vec<Bf16Kind> = [Bf16Kind::AmxTiles, Bf16Kind::Avx512]
            .into_iter()
            .filter(|&kind| detect(kind))
            .collect();
        if kinds.is_empty() {
            eprintln!("no AMX or AVX-512 BF16 here: no bf16 unit is exercised");
            return;
        }
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        // 75 points: a padded last block; 95 dimensions: a last chunk of 32 whose last pair is
        // half padding.
        let (n, dim) = (75, 95);
        let data: Vec<f32> = (0..n * dim).map(|_| rng.random_range(-1.0..1.0)).collect();
        let points = Points::new(&data, dim).expect("points");
        for kind in kinds {
            assert!(self_test(kind), "{kind:?} failed its self-test");
            let packed = Bf16Points::pack_for(points, kind).expect("packed");
            let unit = Bf16Unit::start(&packed);
            // A wider output than the block: the stride is honoured and nothing else written.
            let stride = BLOCK + 3;
            let mut out = vec![f32::NAN; BLOCK * stride];
            let mut gathered = Vec::new();
            for query_block in 0..packed.blocks() {
                let queries: Vec<u32> = (query_block * BLOCK..((query_block + 1) * BLOCK).min(n))
                    .map(|i| i as u32)
                    .collect();
                packed.gather(&queries, &mut gathered);
                for target_block in 0..packed.blocks() {
                    out.fill(f32::NAN);
                    unit.products(&packed, &gathered, target_block, &mut out, stride);
                    for r in 0..BLOCK {
                        for c in BLOCK..stride {
                            assert!(out[r * stride + c].is_nan(), "{kind:?} wrote past a row");
                        }
                    }
                    for (r, &i) in queries.iter().enumerate() {
                        for c in 0..BLOCK {
                            let j = target_block * BLOCK + c;
                            let product = out[r * stride + c];
                            if j >= n {
                                assert_eq!(product, 0.0, "{kind:?}: padding is zero");
                                continue;
                            }
                            let (a, b) = (points.row(i as usize), points.row(j));
                            let exact = super::super::squared_euclidean(a, b);
                            let norms = super::super::dot(a, a) + super::super::dot(b, b);
                            let screened = norms - 2.0 * product;
                            let bound = packed.slack(i as usize) + packed.slack(j);
                            assert!(
                                (exact - screened).abs() <= bound,
                                "{kind:?} {i},{j}: {exact} vs {screened} ± {bound}"
                            );
                        }
                    }
                }
            }
        }
    }
}
