"""Hand-written layers: `out, cache = x_forward(...)`, `grads = x_backward(dout, cache)`.

    affine.py        affine (2-D and time-distributed), ReLU, inverted dropout
    embedding.py     word embedding lookup (Eq. 2)
    rnn.py           ReLU RNN step and masked sequence, either direction (Eq. 4-5)
    mrnn.py          multimodal RNN with the image at t = 1 (Eq. 13-14)
    lstm.py          LSTM step and sequence (the generator's `cell="lstm"` option)
    softmax_loss.py  masked temporal softmax cross-entropy (Eq. 15)
    conv.py          convolution (im2col), max pooling, global max / average pooling (the CNN
                     of Sec. 3.1.1)
"""
from vsa_np.layers.affine import (affine_backward, affine_forward, dropout_backward,
                                  dropout_forward, relu_backward, relu_forward)
from vsa_np.layers.conv import (conv_backward, conv_forward, global_avgpool_backward,
                                global_avgpool_forward, global_maxpool_backward,
                                global_maxpool_forward, maxpool_backward, maxpool_forward)
from vsa_np.layers.embedding import embedding_backward, embedding_forward
from vsa_np.layers.lstm import (lstm_backward, lstm_forward, lstm_step_backward,
                                lstm_step_forward)
from vsa_np.layers.mrnn import (mrnn_backward, mrnn_forward, mrnn_step_backward,
                                mrnn_step_forward)
from vsa_np.layers.rnn import rnn_backward, rnn_forward, rnn_step_backward, rnn_step_forward
from vsa_np.layers.softmax_loss import log_softmax, softmax_loss_rows, temporal_softmax_loss

__all__ = ["affine_forward", "affine_backward", "relu_forward", "relu_backward", "dropout_forward",
           "dropout_backward", "embedding_forward", "embedding_backward", "rnn_step_forward",
           "rnn_step_backward", "rnn_forward", "rnn_backward", "mrnn_step_forward",
           "mrnn_step_backward", "mrnn_forward", "mrnn_backward", "lstm_step_forward",
           "lstm_step_backward", "lstm_forward", "lstm_backward", "log_softmax",
           "softmax_loss_rows", "temporal_softmax_loss", "conv_forward", "conv_backward",
           "maxpool_forward", "maxpool_backward", "global_maxpool_forward",
           "global_maxpool_backward", "global_avgpool_forward", "global_avgpool_backward"]
