"""Workloads as operator tables."""

from models.workloads.anynet import Complexity, anynet, complexity, regnet_params, regnetx
from models.workloads.cnn import (
    mobilenet_v1,
    mobilenet_v2,
    resnet,
    resnet18,
    resnet50,
    resnext50_32x4d,
)
from models.workloads.kws import ds_cnn, resnet8
from models.workloads.llm import (
    LLM_FAMILIES,
    LLMConfig,
    available_llms,
    expected_distinct_experts,
    llm_active_params,
    llm_decode,
    llm_inference,
    llm_prefill,
    load_llm_config,
    parse_llm_config,
)
from models.workloads.ops import (
    Op,
    attention_op,
    bytes_per_element,
    conv,
    elementwise,
    gemm,
    gemv,
    norm,
    softmax,
    table_from_ops,
)
from models.workloads.registry import (
    WorkloadSpec,
    available_workloads,
    build_workload,
    parse_knob,
    workload_spec,
)
from models.workloads.sesr import SESR_VARIANTS, sesr, sesr_mac_per_lr_pixel
from models.workloads.table import ARRAY_FIELDS, META_COLUMNS, PHASES, OperatorTable, concat_tables
from models.workloads.tdnn import tdnn_xvector
from models.workloads.training import training_step
from models.workloads.vit import vit, vit_b16

__all__ = [
    "SESR_VARIANTS",
    "Complexity",
    "anynet",
    "complexity",
    "ds_cnn",
    "mobilenet_v1",
    "mobilenet_v2",
    "regnet_params",
    "regnetx",
    "resnet",
    "resnet18",
    "resnet50",
    "resnet8",
    "resnext50_32x4d",
    "sesr",
    "sesr_mac_per_lr_pixel",
    "tdnn_xvector",
    "training_step",
    "vit",
    "vit_b16",
    "LLM_FAMILIES",
    "LLMConfig",
    "WorkloadSpec",
    "available_llms",
    "available_workloads",
    "build_workload",
    "expected_distinct_experts",
    "llm_active_params",
    "llm_decode",
    "llm_inference",
    "llm_prefill",
    "load_llm_config",
    "parse_knob",
    "parse_llm_config",
    "workload_spec",
    "ARRAY_FIELDS",
    "META_COLUMNS",
    "PHASES",
    "Op",
    "OperatorTable",
    "attention_op",
    "bytes_per_element",
    "concat_tables",
    "conv",
    "elementwise",
    "gemm",
    "gemv",
    "norm",
    "softmax",
    "table_from_ops",
]
