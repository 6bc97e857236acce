"""Networks written the way users write them, for the zoo: `create_model("zoo_nets:PlainEncoderDecoder")` imports them."""
import torch, torch.nn as nn, torch.nn.functional as F

def conv_bn(i, o, **kw): return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False, **kw), nn.BatchNorm2d(o), nn.ReLU())

class PlainEncoderDecoder(nn.Module):
    "A U-Net without blocks: encoder, decoder with a transposed convolution, a skip concatenation, then a classifier."
    def __init__(self, num_classes=10, in_channels=3, c=8):
        super().__init__()
        self.enc1a, self.enc1b = nn.Conv2d(in_channels, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1)
        self.enc2a, self.enc2b = nn.Conv2d(c, 2 * c, 3, padding=1), nn.Conv2d(2 * c, 2 * c, 3, padding=1)
        self.up = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.dec = nn.Conv2d(2 * c, c, 3, padding=1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        e1 = F.relu(self.enc1b(F.relu(self.enc1a(x))))
        e2 = F.relu(self.enc2b(F.relu(self.enc2a(F.max_pool2d(e1, 2)))))
        d = F.relu(self.dec(torch.cat([e1, self.up(e2)], 1)))
        return self.fc(F.adaptive_avg_pool2d(d, 1).flatten(1))

class ChunkNet(nn.Module):
    "Splits its channels with chunk, convolves one half, concatenates (ShuffleNet-v2's unit without the shuffle)."
    def __init__(self, num_classes=10, in_channels=3, c=16):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, c, 3, padding=1)
        self.a, self.b = nn.Conv2d(c // 2, c // 2, 3, padding=1), nn.Conv2d(c // 2, c // 2, 1)
        self.mix = nn.Conv2d(c, c, 1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        left, right = F.relu(self.stem(x)).chunk(2, 1)
        x = F.relu(self.mix(torch.cat([left, self.b(F.relu(self.a(right)))], 1)))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))
